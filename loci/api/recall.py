"""GET /recall and POST /recall: find the memories that matter for a query, with every score explained.

POST takes the same parameters as a JSON body, for clients whose query string would be too
long (a large embedding): the same model validates both and the answer is the same.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from flask import Blueprint, jsonify, request
from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from loci.api.inputs import optional_json_object, query_values, services
from loci.errors import InvalidRequest
from loci.recall.candidates import Candidate
from loci.recall.params import RecallParams
from loci.recall.result import RecallResult
from loci.recall.run import recall as recall_memories
from loci.stores.filters import MemoryFilter
from loci.timeutil import utcnow

bp = Blueprint("recall", __name__)


@bp.get("/recall")
def recall() -> Any:
    return _recall(query_values(request.args))


@bp.post("/recall")
def recall_by_body() -> Any:
    """The parameters of GET /recall as a JSON object: lists as arrays or comma-separated strings,
    booleans as JSON booleans or the strings GET takes; `null` is the same as leaving a parameter out,
    and no body at all the same as GET /recall without parameters."""
    return _recall(body_values(optional_json_object()))


def _recall(values: Mapping[str, Any]) -> Any:
    started = time.perf_counter()
    svc = services()
    params = RecallParams.from_args(values, max_limit=svc.settings.recall_max_limit, dimension=svc.vectors.dimension)
    result = recall_memories(svc.recall_sources, params, utcnow())
    body = response_body(result)
    body["query_time_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return jsonify(body)


def _takes_list(field: FieldInfo) -> bool:
    return any(get_origin(kind) is list for kind in (field.annotation, *get_args(field.annotation)))


def _names(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [alias if isinstance(alias, str) else name]


PARAMETERS = {
    alias: _takes_list(field) for name, field in RecallParams.model_fields.items() for alias in _names(name, field)
}
"""Every recall parameter name (aliases included) and whether it takes several values."""


def body_values(body: dict[str, Any]) -> dict[str, Any]:
    """A POST /recall body as the values the model reads: nulls left out. An object for any parameter, or
    an array for one that takes one value, is a 400 naming it (GET refuses such a parameter given twice),
    never read as text. Names recall does not know are passed on as they are."""
    values: dict[str, Any] = {}
    for name, value in body.items():
        if value is None:
            continue
        if name in PARAMETERS and (isinstance(value, dict) or (isinstance(value, list) and not PARAMETERS[name])):
            kind = "an object" if isinstance(value, dict) else "an array"
            raise InvalidRequest(f"Invalid '{name}': takes one value, not {kind}", field=name)
        values[name] = value
    return values


def response_body(result: RecallResult) -> dict[str, Any]:
    """AutoMem's recall response keys, plus Loci's `degraded` and `warnings`."""
    params, where = result.params, result.where
    body: dict[str, Any] = {
        "status": "success",
        "query": params.query,
        "results": [_item(c, result.relations.get(c.id, [])) for c in result.candidates],
        "count": len(result.candidates),
        "dedup_removed": result.dedup_removed,
        "sort": result.sort.value,
        "state_mode": "current" if params.current_state else "history",
        "vector_search": {"enabled": result.vector_enabled, "matched": result.vector_matched},
        "tag_mode": where.tag_mode.value,
        "tag_match": where.tag_match.value,
        "keywords": result.words,
        "degraded": bool(result.degraded),
        "state_filter": _state_filter(result),
    }
    if params.queries:
        body["queries"] = params.queries
    body.update(_filters(where))
    if params.expand_relations:
        body["expansion"] = {
            "enabled": True,
            "seed_count": result.seeds,
            "expanded_count": result.expanded,
            "included_count": result.included,
            "relation_limit": result.relation_limit,
            "expansion_limit": result.expansion_limit,
            "respect_tags": bool(params.expand_respect_tags),
            "min_importance": params.expand_min_importance,
            "min_strength": params.expand_min_strength,
        }
    if params.expand_entities:
        body["entity_expansion"] = {
            "enabled": True,
            "expanded_count": result.entity_expanded,
            "included_count": sum(1 for c in result.candidates if c.match_type == "entity_expansion"),
            "entities_found": result.entities_found[:10],
        }
    if params.scope_fallback:
        body["scope_fallback"] = {"requested": True, "added": result.outside_scope}
    if result.recency_bias:
        body["recency_bias"] = "on"
    if result.min_score > 0 or result.floor_cut or params.adaptive_floor:
        body["score_filter"] = {
            "min_score": result.min_score,
            "adaptive_floor": bool(params.adaptive_floor) or result.floor_cut > 0,
            "filtered_count": result.floor_cut,
        }
    if result.focus.profiled or result.focus.ids:
        body["context_priority"] = {**result.focus.describe(result.injected), "priority_ids": sorted(result.focus.ids)}
    if result.degraded:
        body["degraded_reasons"] = result.degraded
    if result.warnings:
        body["warnings"] = result.warnings
    return body


def _filters(where: MemoryFilter) -> dict[str, Any]:
    """The filters the request gave, as the filter applied them (tags in comparison form, types canonical)."""
    given: dict[str, Any] = {
        "tags": list(where.tags),
        "exclude_tags": list(where.exclude_tags),
        "types": list(where.types),  # Loci's
        "min_importance": where.min_importance,  # Loci's
        "time_window": {"start": where.start, "end": where.end} if where.start or where.end else None,
    }
    return {name: value for name, value in given.items() if value not in (None, [])}


def _state_filter(result: RecallResult) -> dict[str, Any]:
    state: dict[str, Any] = {
        "current_only": result.params.current_state,
        "suppressed_count": len(result.suppressed),
        "replacement_count": len(result.replacements),
    }
    if result.params.state_debug:
        state["suppressed"] = result.suppressed
        state["replacements"] = [{"replaced": old, "by": new} for old, new in result.replacements]
    return state


def _item(candidate: Candidate, relations: list[dict[str, Any]]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": candidate.id,
        "score": round(candidate.score, 6),
        "final_score": round(candidate.score, 6),
        "original_score": round(candidate.score, 6),
        "match_score": round(candidate.match_score, 6),
        "match_type": candidate.match_type,
        "source": candidate.source,
        "memory": candidate.memory.to_api(),
        "relations": relations,
        "score_components": candidate.components.as_dict(),
    }
    if candidate.outside_tag_scope:
        item["outside_tag_scope"] = True
    for name in ("related_to", "relation_type", "state_replaces", "expanded_from_entity"):
        value = getattr(candidate, name)
        if value is not None:
            item[name] = value
    return item
