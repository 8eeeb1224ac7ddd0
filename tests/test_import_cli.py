"""The import CLI against the service over real HTTP: batches, refused lines, resuming, --wait, retries."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask
from werkzeug.serving import make_server

from loci.cli import main
from loci.importer import Importer, ImportFailed, ProgressLog
from loci.services import Services
from tests.helpers import ROOT, wait_until
from tests.openai_server import OpenAIServer

WSGIApp = Callable[..., Any]


@contextmanager
def serve(app: WSGIApp) -> Iterator[str]:
    """Serve a WSGI app on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


class SlowBatches:
    """WSGI middleware: every batch store takes `delay` seconds longer; the first `fail` answer 503."""

    def __init__(self, app: Flask, delay: float = 0.0, fail: int = 0, retry_after: str = "1") -> None:
        self.app, self.delay, self.fail, self.retry_after = app, delay, fail, retry_after
        self.batches = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["PATH_INFO"] == "/memory/batch":
            self.batches += 1
            if self.batches <= self.fail:
                start_response("503 Service Unavailable", [("Retry-After", self.retry_after)])
                return [b'{"status": "error", "message": "busy"}']
            time.sleep(self.delay)
        return self.app(environ, start_response)


def write_lines(path: Path, lines: list[Any]) -> Path:
    """One line per item: strings as they are (to write broken lines), anything else as JSON."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def contents(svc: Services) -> list[str]:
    return sorted(m.content for m in svc.graph.memories.get_many(list(svc.graph.memories.iter_ids())).values())


def logged_ids(log_path: Path) -> dict[int, str]:
    entries = [json.loads(line) for line in log_path.read_text().splitlines()[1:]]
    return {line: memory_id for entry in entries for line, memory_id in entry["ids"]}


MEMORIES = [{"content": f"Imported fact number {n}", "tags": ["import"]} for n in range(23)]


def test_import_stores_every_line_and_maps_lines_to_ids(
    app: Flask, services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_lines(tmp_path / "facts.jsonl", ["", json.dumps("a bare string is the content"), *MEMORIES])
    with serve(app) as url:
        assert main(["import", str(source), "--url", url, "--batch-size", "5"]) == 0
    assert "24 lines stored as 24 memories" in capsys.readouterr().out
    ids = logged_ids(tmp_path / "facts.jsonl.import-log")
    assert sorted(ids) == list(range(2, 26))
    stored = services.graph.memories.get_many(list(ids.values()))
    assert stored[ids[2]].content == "a bare string is the content"
    assert stored[ids[25]].content == "Imported fact number 22" and stored[ids[25]].tags == ["import"]


def test_refused_lines_are_named_and_the_rest_stored(
    app: Flask, services: Services, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [MEMORIES[0], "{not json", MEMORIES[1], 42, {"content": "x", "importance": 7}, MEMORIES[2]]
    source = write_lines(tmp_path / "mixed.jsonl", lines)
    with serve(app) as url:
        assert main(["import", str(source), "--url", url, "--batch-size", "10"]) == 1
    out = capsys.readouterr().out
    assert "3 lines stored as 3 memories" in out and "3 lines refused" in out
    assert "refused: line 2: not valid JSON" in out
    assert "refused: line 4: must be a JSON object" in out
    assert "refused: line 5: HTTP 400" in out and "importance" in out
    assert sorted(contents(services)) == sorted(m["content"] for m in MEMORIES[:3])


def test_an_interrupted_import_resumes_without_duplicates(app: Flask, services: Services, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "history.jsonl", MEMORIES * 2 + [{"content": f"late {n}"} for n in range(14)])
    log_path = tmp_path / "history.jsonl.import-log"
    with serve(SlowBatches(app, delay=0.3)) as url:
        command = [sys.executable, "-m", "loci", "import", str(source), "--url", url, "--batch-size", "5"]
        with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:

            def three_batches_logged() -> bool:
                assert process.poll() is None, process.communicate()  # still importing
                return log_path.exists() and len(log_path.read_text().splitlines()) >= 3

            try:
                wait_until(three_batches_logged, 30, what="three batches in the import log", every=0.02)
            finally:
                process.kill()  # leaving the block closes its pipes and waits for it
        done_before = len(logged_ids(log_path))
        assert 0 < done_before < 60
        assert main(["import", str(source), "--url", url, "--batch-size", "5"]) == 0
    ids = logged_ids(log_path)
    assert sorted(ids) == list(range(1, 61))
    # the file repeats its first 23 memories: the repeats map to the originals' ids
    assert all(ids[n] == ids[n + 23] for n in range(1, 24))
    assert len(contents(services)) == 23 + 14 == len(set(contents(services)))


def test_a_batch_stored_but_not_logged_is_not_stored_twice(app: Flask, services: Services, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "a.jsonl", [{"content": f"unique {n}"} for n in range(12)])
    log_path = tmp_path / "a.jsonl.import-log"
    with serve(app) as url:
        assert main(["import", str(source), "--url", url, "--batch-size", "5"]) == 0
        first = logged_ids(log_path)
        # a crash after the service acknowledged the last two batches, before they were logged
        log_path.write_text("\n".join(log_path.read_text().splitlines()[:2]) + "\n")
        assert main(["import", str(source), "--url", url, "--batch-size", "5"]) == 0
    assert logged_ids(log_path) == first
    assert services.graph.memories.count() == 12


def test_a_changed_file_or_another_service_is_not_resumed(
    app: Flask, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_lines(tmp_path / "b.jsonl", MEMORIES[:4])
    with serve(app) as url:
        assert main(["import", str(source), "--url", url]) == 0
        write_lines(source, [{"content": "edited"}, *MEMORIES[1:4]])
        assert main(["import", str(source), "--url", url]) == 2
        assert "changed since lines 1-4" in capsys.readouterr().err
        assert main(["import", str(source), "--url", "http://127.0.0.1:9"]) == 2
        assert "records an import into" in capsys.readouterr().err
        assert main(["import", str(source), "--url", url, "--restart"]) == 0


def test_wait_reports_memories_that_failed_in_the_pipeline(
    make_stub_app: Callable[..., Flask],
    openai_server: OpenAIServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = make_stub_app(embedding_max_attempts=2)
    svc: Services = app.extensions["loci"]
    openai_server.stub.reject_text = "poison"
    lines = [{"content": "fine one"}, {"content": "poison pill"}, {"content": "fine two"}]
    source = write_lines(tmp_path / "c.jsonl", lines)
    svc.embedding_worker.start()
    svc.enrichment_worker.start()
    try:
        with serve(app) as url:
            assert main(["import", str(source), "--url", url, "--wait", "--timeout", "60"]) == 1
    finally:
        svc.embedding_worker.stop()
        svc.enrichment_worker.stop()
    out = capsys.readouterr().out
    assert "searchable: 2, failed: 1, still pending: 0" in out
    assert "failed: line 2: embedding: " in out and "400" in out


def test_busy_answers_are_retried_after_retry_after(app: Flask, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "d.jsonl", MEMORIES[:3])
    sleeps: list[float] = []
    with serve(SlowBatches(app, fail=2, retry_after="7")) as url, httpx.Client(base_url=url) as client:
        importer = Importer(client, ProgressLog(tmp_path / "d.log", source, url), sleep=sleeps.append)
        progress = importer.run(batch_size=10)
    assert len(progress.ids) == 3
    assert len(sleeps) == 2 and all(s >= 7 for s in sleeps)


def test_an_unreachable_service_stops_the_import(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "e.jsonl", MEMORIES[:3])
    url = "http://127.0.0.1:9"
    with httpx.Client(base_url=url) as client:
        importer = Importer(client, ProgressLog(tmp_path / "e.log", source, url), attempts=3, sleep=lambda _: None)
        with pytest.raises(ImportFailed, match="cannot reach"):
            importer.run(batch_size=10)
