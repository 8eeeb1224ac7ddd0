"""GroupCommit: every entry written exactly once, answers that arrive together written together."""

from __future__ import annotations

import threading
import time

import pytest

from loci.pipeline.groupcommit import GroupCommit


def test_entries_waiting_during_a_write_are_written_together_once() -> None:
    writes: list[list[int]] = []
    first_write_started = threading.Event()

    def write(group: list[int]) -> None:
        writes.append(group)
        first_write_started.set()
        time.sleep(0.3)  # a slow write: the other threads' entries pile up meanwhile

    commits = GroupCommit(write)
    leader = threading.Thread(target=commits.submit, args=(0,))
    leader.start()
    assert first_write_started.wait(5)
    followers = [threading.Thread(target=commits.submit, args=(n,)) for n in range(1, 9)]
    for thread in followers:
        thread.start()
    for thread in [leader, *followers]:
        thread.join(10)

    assert sorted(entry for group in writes for entry in group) == list(range(9))  # each once
    assert writes[0] == [0] and len(writes) == 2  # the eight that waited went in one write


def test_a_failed_write_releases_its_group_and_later_entries_still_go_through() -> None:
    written: list[int] = []

    def write(group: list[int]) -> None:
        if 13 in group:
            raise RuntimeError("disk full")
        written.extend(group)

    commits = GroupCommit(write)
    with pytest.raises(RuntimeError):
        commits.submit(13)
    commits.submit(14)  # the lock was released
    assert written == [14]
