"""Small filesystems for tests about a full disk: mounted by the test, skipped where mounting is not allowed."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loci.diskspace import free_bytes

MiB = 1024 * 1024


@contextmanager
def small_filesystem(where: Path, size_mb: int, kind: str) -> Iterator[Path]:
    """A `kind` ("tmpfs" or "ext4") filesystem of `size_mb` mounted at `where`, unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    if kind == "tmpfs":
        command = ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)]
    else:
        image = where.with_suffix(".img")
        with open(image, "wb") as handle:
            handle.truncate(size_mb * MiB)
        made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"cannot make an ext4 image here: {made.stderr.decode(errors='replace').strip()}")
        command = ["mount", "-o", "loop", str(image), str(where)]
    try:
        mounted = subprocess.run(command, capture_output=True, check=False)
    except FileNotFoundError:
        pytest.skip("no mount command on this machine")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a {kind} filesystem is not permitted here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(path: Path, leave: int = 0) -> int:
    """Write a file until only `leave` bytes are free on its filesystem (0: until the disk refuses)."""
    chunk = b"\0" * MiB
    written = 0
    with open(path, "ab") as handle:
        while (room := free_bytes(path.parent) - leave) > 0:
            try:
                written += handle.write(chunk[: min(room, MiB)])
                handle.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
        try:
            os.fsync(handle.fileno())
        except OSError as exc:  # the last pages may not fit: the disk is full, which is the point
            if exc.errno != errno.ENOSPC:
                raise
    return written
