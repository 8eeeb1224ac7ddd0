"""The entity routes over what the enrichment worker just stored (real FalkorDB, the real spaCy model):
Entity nodes after enrichment, reference counts, stale references dropped on re-enrichment and
delete, merge and aliases, merge candidates, the tag audit, bad parameters and admin auth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from loci.services import Services
from tests.helpers import settle, store

ADMIN = {"X-Admin-Token": "entity-admin"}


@pytest.fixture
def admin_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(admin_token=ADMIN["X-Admin-Token"])


def ok(client: FlaskClient, path: str, **kwargs: Any) -> dict[str, Any]:
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    return body


def counts(client: FlaskClient, query: str = "") -> dict[str, int]:
    return {e["id"]: e["reference_count"] for e in ok(client, f"/entities{query}")["entities"]}


def enriched(app: Flask, *contents: str, **fields: Any) -> list[str]:
    ids = [store(app, content, **fields) for content in contents]
    settle(app.extensions["loci"])
    return ids


def test_entities_exist_after_enrichment_with_reference_counts(app: Flask, client: FlaskClient) -> None:
    enriched(
        app,
        "Met with Priya Raman to plan the launch.",
        "Priya Raman approved the budget; we use PostgreSQL for it.",
        "The team migrated to PostgreSQL last week.",
        "Lunch with Omar Haddad.",
    )
    found = counts(client)
    assert found["entity:people:priya-raman"] == 2 and found["entity:tools:postgresql"] == 2
    assert found["entity:people:omar-haddad"] == 1
    order = list(found.values())
    assert order == sorted(order, reverse=True)  # most referenced first
    assert set(counts(client, "?category=people")) == {"entity:people:priya-raman", "entity:people:omar-haddad"}

    entity = ok(client, "/entity/priya-raman")["entity"]
    assert entity["id"] == "entity:people:priya-raman" and entity["name"] == "Priya Raman"
    assert entity["category"] == "people" and entity["reference_count"] == 2 and entity["aliases"] == []
    assert entity["created_at"] and entity["last_referenced_at"]
    assert entity["identity"] is None and entity["identity_source_count"] is None  # Loci synthesizes none
    assert ok(client, "/entity/entity:people:priya-raman")["entity"]["id"] == entity["id"]
    assert ok(client, "/entity/Priya Raman")["entity"]["id"] == entity["id"]
    missing = client.get("/entity/nobody-at-all")
    assert missing.status_code == 404 and "nobody-at-all" in missing.json["message"]


def test_listing_pages(app: Flask, client: FlaskClient) -> None:
    enriched(app, "Met with Priya Raman.", "Met with Priya Raman again.", "Lunch with Omar Haddad.")
    first = ok(client, "/entities?limit=1")
    second = ok(client, "/entities?limit=1&offset=1")
    assert [e["id"] for e in first["entities"]] == ["entity:people:priya-raman"] and first["has_more"]
    assert [e["id"] for e in second["entities"]] == ["entity:people:omar-haddad"] and not second["has_more"]
    assert ok(client, "/entities?limit=1000")["limit"] == 500  # AutoMem's ceiling, as AutoMem clamps it


def test_re_enrichment_and_delete_drop_stale_references(app: Flask, client: FlaskClient, services: Services) -> None:
    first, second = enriched(app, "Lunch with Omar Haddad.", "Coffee with Omar Haddad.")
    assert counts(client)["entity:people:omar-haddad"] == 2
    assert client.patch(f"/memory/{first}", json={"content": "Lunch with Ines Duarte."}).status_code == 200
    settle(services)
    found = counts(client)
    assert found["entity:people:omar-haddad"] == 1 and found["entity:people:ines-duarte"] == 1
    assert client.delete(f"/memory/{second}").status_code == 200
    assert "entity:people:omar-haddad" not in counts(client)  # no references left: not listed
    assert ok(client, "/entity/omar-haddad")["entity"]["reference_count"] == 0


def test_a_memorys_own_valid_entity_tags_become_entities(app: Flask, client: FlaskClient) -> None:
    """An AutoMem store's entity tags (here a client's) become nodes too; invalid ones do not."""
    enriched(app, "Shipped the quarterly report.", tags=["entity:projects:atlas", "entity:people:completed"])
    found = counts(client)
    assert found.get("entity:projects:atlas") == 1 and "entity:people:completed" not in found


def test_merge_moves_edges_and_the_alias_resolves(admin_app: Flask) -> None:
    client = admin_app.test_client()
    enriched(admin_app, "Lunch with Alice.", "Met with Alice Smith.", "Talked to Alice Smith about hiring.")
    assert counts(client)["entity:people:alice"] == 1
    response = client.post("/entity/alice/merge", json={"merge_into": "alice-smith"}, headers=ADMIN)
    assert response.status_code == 200, response.json
    assert response.json["merge"] == {
        "canonical": "entity:people:alice-smith",
        "alias": "entity:people:alice",
        "alias_slug": "alice",
        "edges_moved": 1,
    }
    assert counts(client) == {"entity:people:alice-smith": 3}  # the merged entity is hidden
    entity = ok(client, "/entity/alice")["entity"]  # the alias resolves to the canonical
    assert entity["id"] == "entity:people:alice-smith" and entity["reference_count"] == 3
    assert "alice" in entity["aliases"] and "Alice" in entity["aliases"]
    enriched(admin_app, "Dinner with Alice.")  # a later mention of the alias counts for the canonical
    assert counts(client) == {"entity:people:alice-smith": 4}


def test_merge_refusals(admin_app: Flask) -> None:
    client = admin_app.test_client()
    enriched(admin_app, "Lunch with Alice.", "Met with Alice Smith.")
    cases = [
        ("/entity/alice/merge", {}, 400, "merge_into"),
        ("/entity/alice/merge", {"merge_into": 3}, 400, "merge_into"),
        ("/entity/alice/merge", {"merge_into": "Alice"}, 400, "merge_into"),  # itself
        ("/entity/nobody/merge", {"merge_into": "alice"}, 404, None),
        ("/entity/alice/merge", {"merge_into": "nobody"}, 404, None),
    ]
    for path, body, status, field in cases:
        response = client.post(path, json=body, headers=ADMIN)
        assert response.status_code == status, (path, body, response.json)
        assert response.json.get("field") == field
    assert counts(client) == {"entity:people:alice": 1, "entity:people:alice-smith": 1}  # nothing merged


def test_merge_candidates_for_near_duplicates_not_distinct_names(app: Flask, client: FlaskClient) -> None:
    enriched(
        app,
        "We use PostgreSQL for billing.",
        "We use PostgreSQL for search.",
        "We use Postgres for the old reports.",
        "We use Kafka for events.",
        "Met with Priya Raman.",
        "Met with Priya Ramanathan.",
    )
    body = ok(client, "/entities/merge-candidates")
    pairs = {frozenset((c["entity_a"], c["entity_b"])): c for c in body["candidates"]}
    pg = pairs[frozenset(("entity:tools:postgres", "entity:tools:postgresql"))]
    assert pg["canonical"] == "entity:tools:postgresql" and pg["alias"] == "entity:tools:postgres"  # more referenced
    assert pg["reason"].startswith("prefix") and not pg["auto_merge"] and 0 < pg["confidence"] < 1
    assert not any("kafka" in entity for pair in pairs for entity in pair)
    assert frozenset(("entity:people:priya-raman", "entity:people:priya-ramanathan")) not in pairs
    assert body["count"] == len(body["candidates"]) == body["total"]
    assert ok(client, "/entities/merge-candidates?category=people")["candidates"] == []


def test_audit_verdicts(admin_app: Flask) -> None:
    client = admin_app.test_client()
    enriched(
        admin_app,
        "Met with Priya Raman.",
        tags=["entity:people:completed", "entity:gadgets:phone", "entity:tools:Redis_DB"],
    )
    body = ok(client, "/entities/audit", headers=ADMIN)
    assert body["dry_run"] is True and body["summary"] is False
    assert [e["id"] for e in body["accepted"]] == ["entity:people:priya-raman"]
    assert body["accepted"][0]["references"] == 1
    assert {r["tag"]: r["reason"] for r in body["rejected_entities"]} == {
        "entity:people:completed": "quality",
        "entity:gadgets:phone": "unknown_category",
        "entity:tools:Redis_DB": "not_a_slug",
    }
    assert body["counts_by_reason"] == {"not_a_slug": 1, "quality": 1, "unknown_category": 1}
    assert body["counts"]["accepted_entities"] == 1 and body["counts"]["rejected_entities"] == 3
    only = ok(client, "/entities/audit?reason=quality", headers=ADMIN)
    assert only["accepted"] == [] and [r["tag"] for r in only["rejected_entities"]] == ["entity:people:completed"]
    summary = ok(client, "/entities/audit?summary=true&limit=2", headers=ADMIN)
    assert len(summary["rejected_sample"]) == 2 and summary["merge_candidates_skipped"] is True


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/entities?limit=abc", "limit"),
        ("/entities?limit=0", "limit"),
        ("/entities?offset=-1", "offset"),
        ("/entities?category=gadgets", "category"),
        ("/entities/merge-candidates?limit=1.5", "limit"),
        ("/entities/audit?reason=nope", "reason"),
        ("/entities/audit?summary=maybe", "summary"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(admin_app: Flask, path: str, field: str) -> None:
    response = admin_app.test_client().get(path, headers=ADMIN)
    assert response.status_code == 400, response.json
    assert response.json["status"] == "error" and response.json["field"] == field


def test_admin_routes_need_the_admin_token(admin_app: Flask, make_app: Callable[..., Flask], tmp_path: Path) -> None:
    unconfigured = make_app(data_dir=tmp_path / "unconfigured").test_client()
    assert unconfigured.get("/entities/audit").status_code == 403
    assert unconfigured.post("/entity/alice/merge", json={"merge_into": "bob"}).status_code == 403
    client = admin_app.test_client()
    assert client.get("/entities/audit").status_code == 401
    assert (
        client.post("/entity/alice/merge", json={"merge_into": "bob"}, headers={"X-Admin-Token": "no"}).status_code
        == 401
    )
    assert client.get("/entities").status_code == 200  # the other routes need only the API token
