"""Entity routes: the people, tools, projects... that enrichment found, their merge candidates,
the audit of `entity:` tags, and merging one entity into another (AutoMem's §3.17 shapes).

Entity nodes are written by the enrichment worker as it stores a memory's entity tags
(loci/pipeline/enrichment.py), so these answer from what was just enriched. An entity is
named in a path by its slug, an alias, or its id (`entity:<category>:<slug>`).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from loci.api.auth import require_admin
from loci.api.inputs import json_object, query_values, services
from loci.enrichment.entities import slugify
from loci.enrichment.entity_merge import merge_candidates
from loci.enrichment.entity_tags import audit
from loci.errors import InvalidRequest, NotFound
from loci.schemas import EntityAudit, EntityMerge, EntityPage, parse
from loci.stores.graph import EntityQueries, EntityRecord

log = logging.getLogger(__name__)

bp = Blueprint("entities", __name__)

AUDIT_SAMPLE = 20
"""Accepted and rejected items shown by a summary audit (at most `limit`)."""


def _keys(name: str) -> list[str]:
    """What a path or body may name an entity by: as given, in lower case, in slug form."""
    return [k for k in dict.fromkeys((name.strip(), name.strip().lower(), slugify(name))) if k]


def _entity(entities: EntityQueries, name: str, prefer_category: str | None = None) -> EntityRecord:
    found = entities.find(_keys(name), prefer_category)
    if found is None:
        raise NotFound(f"Entity '{name}' not found")
    return found


@bp.get("/entities")
def listing() -> Any:
    """Entities referenced by at least one memory, most referenced first; merged ones hidden."""
    query = parse(EntityPage, query_values(request.args))
    found = services().graph.entities.listing(query.category, query.limit + 1, query.offset)
    page = found[: query.limit]
    return jsonify(
        {
            "status": "success",
            "entities": [entity.to_api() for entity in page],
            "count": len(page),
            "category": query.category,
            "limit": query.limit,
            "offset": query.offset,
            "has_more": len(found) > query.limit,
        }
    )


@bp.get("/entity/<slug>")
def get(slug: str) -> Any:
    """One entity by slug, alias or id."""
    return jsonify({"status": "success", "entity": _entity(services().graph.entities, slug).to_api()})


@bp.get("/entities/merge-candidates")
def candidates() -> Any:
    """Pairs of entities whose names say they may be one, surest first."""
    query = parse(EntityPage, query_values(request.args))
    entities = services().graph.entities.iter_active()
    found = merge_candidates(e for e in entities if query.category in (None, e.category))
    page = found[query.offset : query.offset + query.limit]
    return jsonify(
        {
            "status": "success",
            "candidates": [candidate.to_api() for candidate in page],
            "count": len(page),
            "total": len(found),
            "limit": query.limit,
            "offset": query.offset,
        }
    )


@bp.get("/entities/audit")
@require_admin
def audit_tags() -> Any:
    """A dry run over every memory's `entity:` tags: which pass the quality rules, which not and why."""
    query = parse(EntityAudit, query_values(request.args))
    entities = services().graph.entities
    limit = min(query.limit, AUDIT_SAMPLE) if query.summary else query.limit
    report = audit(
        entities.iter_entity_tags(), category=query.category, reason=query.reason, limit=limit, offset=query.offset
    )
    skip_candidates = query.summary and not query.include_merge_candidates
    found = [] if skip_candidates else merge_candidates(entities.iter_active())
    lists = (
        {"accepted_sample": report.accepted, "rejected_sample": report.rejected}
        if query.summary
        else {"accepted": report.accepted, "rejected_entities": report.rejected}
    )
    auto = sum(c.auto_merge for c in found)
    return jsonify(
        {
            "status": "success",
            "dry_run": True,
            **lists,
            "merge_candidates": [c.to_api() for c in found],
            "counts": {
                **report.counts,
                "merge_candidates": len(found),
                "auto_merge_candidates": auto,
                "review_merge_candidates": len(found) - auto,
            },
            "counts_by_reason": report.counts_by_reason,
            "counts_by_category": report.counts_by_category,
            "limit": limit,
            "offset": query.offset,
            "summary": query.summary,
            "merge_candidates_skipped": skip_candidates,
        }
    )


@bp.post("/entity/<slug>/merge")
@require_admin
def merge(slug: str) -> Any:
    """Merge the entity `slug` into `merge_into`: its references move there and it becomes an alias."""
    body = parse(EntityMerge, json_object())
    entities = services().graph.entities
    alias = _entity(entities, slug)
    canonical = _entity(entities, body.merge_into, prefer_category=alias.category)
    if canonical.id == alias.id:
        raise InvalidRequest(f"Invalid 'merge_into': '{body.merge_into}' is '{slug}' itself", field="merge_into")
    result = entities.merge(alias, canonical)
    log.info(
        "entities merged",
        extra={
            "event": "entities.merged",
            "alias": result.alias,
            "canonical": result.canonical,
            "edges_moved": result.edges_moved,
        },
    )
    return jsonify(
        {
            "status": "success",
            "merge": {
                "canonical": result.canonical,
                "alias": result.alias,
                "alias_slug": result.alias_slug,
                "edges_moved": result.edges_moved,
            },
        }
    )
