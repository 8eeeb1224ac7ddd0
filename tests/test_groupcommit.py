"""GroupCommit: every entry written exactly once, answers that arrive together written together."""

from __future__ import annotations

import threading

import pytest

from loci.pipeline.groupcommit import GroupCommit
from tests.helpers import wait_until


def run_all(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_entries_waiting_during_a_write_are_written_together_once() -> None:
    writes: list[list[int]] = []
    release = threading.Event()

    def write(group: list[int]) -> None:
        writes.append(group)
        if group == [0]:
            release.wait(10)  # the first write holds on until the others have piled up

    commits: GroupCommit[int] = GroupCommit(write)
    leader = threading.Thread(target=commits.submit, args=(0,))
    leader.start()
    wait_until(lambda: writes, 10, every=0.005)
    followers = [threading.Thread(target=commits.submit, args=(n,)) for n in range(1, 9)]
    for thread in followers:
        thread.start()
    wait_until(lambda: commits.waiting == 8, 10, every=0.005)
    release.set()
    run_all([leader, *followers])

    assert writes[0] == [0] and sorted(writes[1]) == list(range(1, 9)) and len(writes) == 2


def test_a_failed_write_fails_every_entry_in_it_and_later_entries_still_go_through() -> None:
    written: list[int] = []
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def write(group: list[int]) -> None:
        if group == [0]:
            started.set()
            release.wait(10)
        elif 13 in group:
            raise RuntimeError("disk full")
        written.extend(group)

    commits: GroupCommit[int] = GroupCommit(write)

    def submit(entry: int) -> None:
        try:
            commits.submit(entry)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    assert started.wait(10)
    threads += [threading.Thread(target=submit, args=(n,)) for n in (12, 13)]  # written together, failing together
    for thread in threads[1:]:
        thread.start()
    wait_until(lambda: commits.waiting == 2, 10, every=0.005)
    release.set()
    run_all(threads)

    assert written == [0] and len(errors) == 2  # the follower learns its write failed, too
    commits.submit(14)
    assert written == [0, 14]
    with pytest.raises(RuntimeError):
        commits.submit(13)
