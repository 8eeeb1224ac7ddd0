"""The container image holds everything the service imports, and the service starts from it.

No Docker engine runs here, so the test does what the Dockerfile does, with the same file
set: the build context after `.dockerignore` (filtered by the Docker SDK's own rules),
`pip install --no-deps` of it into a fresh virtual environment, then gunicorn with the
image's command, from a directory holding no sources (the image removes them), until
`/health` answers 200; then the memory browser's files are served from the installed
package. The image installs the dependencies from requirements.txt in a layer of their own;
here the fresh environment borrows them from the test's environment through a `.pth` line,
and `pip check` proves the package's declared dependencies are all there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from loci.stores.falkordb_server import free_port
from tests.helpers import ROOT

pytestmark = pytest.mark.slow


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def build_context() -> set[str]:
    """Paths (relative to the project) that `docker build .` sends, as the Docker SDK filters them."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return {path for path in exclude_paths(str(ROOT), patterns) if (ROOT / path).is_file()}


def test_the_image_copies_the_whole_context_and_installs_it_as_a_package() -> None:
    steps = dockerfile_instructions()
    assert ("COPY", ". /src") in steps, "the image must copy the project as a whole, not a list of files"
    assert any(kind == "RUN" and "pip install --no-deps /src && rm -rf /src" in args for kind, args in steps)
    command = json.loads(next(args for kind, args in steps if kind == "CMD"))
    assert command == ["gunicorn", "-c", "python:loci.serving.gunicorn_config", "app:app"]
    railway = (ROOT / "railway.toml").read_text()
    assert f'startCommand = "{shlex.join(command)}"' in railway


def test_the_context_holds_the_sources_and_nothing_local() -> None:
    files = build_context()
    assert {"app.py", "consolidation.py", "pyproject.toml", "requirements.txt", "loci/__init__.py"} <= files
    assert not [f for f in files if f.startswith((".venv/", ".git/", "data/", "tests/", ".env")) or "__pycache__" in f]


def test_the_service_starts_from_the_image_file_set(tmp_path: Path) -> None:
    context, venv, workdir = tmp_path / "src", tmp_path / "venv", tmp_path / "app"
    workdir.mkdir()
    for relative in build_context():
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / relative, target)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # the dependencies layer of the image: borrowed, not reinstalled (a .pth path line adds no editable finder)
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python, env = venv / "bin" / "python", {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pip = [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "."], cwd=context, env=env, check=True
    )
    subprocess.run([*pip, "check"], cwd=tmp_path, env=env, check=True)

    # from a directory holding no sources: everything comes from the installed distribution
    probe = "import app, consolidation, loci.cli, loci.serving.gunicorn_config; print(loci.cli.__file__)"
    where = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    subprocess.run([str(venv / "bin" / "loci"), "--help"], cwd=tmp_path, env=env, check=True, capture_output=True)

    port = free_port()
    env |= {"PORT": str(port), "LOCI_DATA_DIR": str(tmp_path / "data"), "LOCI_LOG_FORMAT": "text"}
    command = json.loads(next(args for kind, args in dockerfile_instructions() if kind == "CMD"))
    log_path = tmp_path / "service.log"
    with open(log_path, "wb") as log:
        service = subprocess.Popen(
            [str(python), "-m", *command],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=log,  # gunicorn: on PATH in the image
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert service.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, log_path.read_text()[-4000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        # the memory browser's files travel inside the installed package
        for path in ("/ui/", "/ui/js/app.js", "/ui/vendor/cytoscape.esm.min.js"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                assert response.status == 200 and response.read(), path
    finally:
        service.terminate()
        service.wait(timeout=60)
