"""GET /memories: newest first, paged by cursor, filtered by type; bad input is a 400 naming the field."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from loci.services import Services
from loci.timeutil import iso
from tests.helpers import store

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def page(client: FlaskClient, **params: Any) -> dict[str, Any]:
    response = client.get("/memories", query_string=params)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    assert body["count"] == len(body["memories"])
    return body


def ids_of(body: dict[str, Any]) -> list[str]:
    return [memory["id"] for memory in body["memories"]]


def walk(client: FlaskClient, **params: Any) -> list[list[str]]:
    """Every page from the first to the one without next_cursor."""
    pages, cursor = [], None
    for _ in range(50):
        body = page(client, **params, **({"cursor": cursor} if cursor else {}))
        pages.append(ids_of(body))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    raise AssertionError("more than 50 pages")


def test_pages_newest_first_without_repeats_or_gaps(client: FlaskClient) -> None:
    # two pairs share a timestamp: the id decides their order, and a page boundary falls inside one
    stamps = [BASE + timedelta(hours=n) for n in (0, 1, 1, 2, 3, 4, 4)]
    stored = [(stamp, store(client, f"event number {n}", timestamp=iso(stamp))) for n, stamp in enumerate(stamps)]
    expected = [memory_id for _, memory_id in sorted(stored, key=lambda pair: (pair[0], pair[1]), reverse=True)]

    pages = walk(client, limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [memory_id for p in pages for memory_id in p] == expected

    whole = page(client, limit=200)
    assert ids_of(whole) == expected and whole["next_cursor"] is None and whole["limit"] == 200
    assert whole["memories"][0]["timestamp"].startswith("2025-03-01T16:00:00")


def test_cursor_holds_while_memories_are_stored_between_pages(client: FlaskClient) -> None:
    old = [store(client, f"old note {n}", timestamp=iso(BASE - timedelta(days=n))) for n in range(6)]
    first = page(client, limit=2)
    assert ids_of(first) == old[:2]
    newer = store(client, "stored while the user reads page one", timestamp=iso(BASE + timedelta(days=1)))
    between = store(client, "an older memory imported meanwhile", timestamp=iso(BASE - timedelta(days=2, hours=12)))
    second = page(client, limit=2, cursor=first["next_cursor"])
    third = page(client, limit=2, cursor=second["next_cursor"])
    # an offset would have shifted by one and repeated old[1]; the cursor goes on from where page one ended
    assert ids_of(second) == [old[2], between]
    assert ids_of(third) == [old[3], old[4]]
    assert ids_of(page(client, limit=200))[0] == newer


def test_type_filter_and_archived(client: FlaskClient, services: Services) -> None:
    decision = store(client, "We chose FalkorDB", type="Decision", timestamp=iso(BASE))
    habit = store(client, "Runs every morning", type="Habit", timestamp=iso(BASE + timedelta(hours=1)))
    fact = store(client, "The office is in Lisbon", type="fact", timestamp=iso(BASE + timedelta(hours=2)))
    archived = store(client, "An old decision", type="Decision", timestamp=iso(BASE + timedelta(hours=3)))
    memory = services.graph.memories.get(archived)
    assert memory is not None
    services.graph.memories.update(memory.with_changes(archived=True), ["archived"])

    assert ids_of(page(client, type="Decision")) == [decision]
    assert ids_of(page(client, type="decision,habit")) == [habit, decision]
    assert ids_of(page(client, type=["Habit", "Context"])) == [fact, habit]  # `fact` is stored as Context
    assert ids_of(page(client, type="Decision", include_archived="true")) == [archived, decision]
    assert ids_of(page(client)) == [fact, habit, decision]
    refused = client.get("/memories?type=Decision,Gossip")
    assert refused.status_code == 400 and refused.json["field"] == "type" and "Gossip" in refused.json["message"]


def test_listing_does_not_record_access(client: FlaskClient, services: Services) -> None:
    memory_id = store(client, "browsed, not recalled", timestamp=iso(BASE))
    before = services.graph.memories.get(memory_id)
    assert before is not None
    assert ids_of(page(client)) == [memory_id]
    services.access.flush()
    after = services.graph.memories.get(memory_id)
    assert after is not None and after.last_accessed == before.last_accessed
    assert client.get(f"/memory/{memory_id}").status_code == 200  # a fetch is an access: the check can tell
    services.access.flush()
    fetched = services.graph.memories.get(memory_id)
    assert fetched is not None and fetched.last_accessed != before.last_accessed


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "%%%",
        _cursor("1740830400.0"),  # no id
        _cursor("yesterday:6a1f3c52-5b0e-4f7e-9a53-0c7a0f1c2d3e"),
        _cursor("nan:6a1f3c52-5b0e-4f7e-9a53-0c7a0f1c2d3e"),
        _cursor("1740830400.0:not-a-uuid"),
        _cursor("1740830400.0:6A1F3C52-5B0E-4F7E-9A53-0C7A0F1C2D3E"),  # not the form this API gives
    ],
)
def test_malformed_cursor_is_400(client: FlaskClient, cursor: str) -> None:
    response = client.get("/memories", query_string={"cursor": cursor})
    assert response.status_code == 400 and response.json["field"] == "cursor"


def test_limit_bounds(client: FlaskClient) -> None:
    for n in range(3):
        store(client, f"note {n}", timestamp=iso(BASE + timedelta(minutes=n)))
    assert page(client)["limit"] == 50
    low = page(client, limit=0)
    assert low["limit"] == 1 and low["count"] == 1 and low["next_cursor"]
    assert page(client, limit=10_000)["limit"] == 200
    for bad in ("ten", "1.5"):
        response = client.get("/memories", query_string={"limit": bad})
        assert response.status_code == 400 and response.json["field"] == "limit"
    twice = client.get("/memories?limit=1&limit=2")
    assert twice.status_code == 400 and twice.json["field"] == "limit"
