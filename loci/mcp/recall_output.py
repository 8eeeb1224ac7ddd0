"""recall_memory's answer in the output formats of AutoMem's MCP bridge: text, items, detailed, json.

Each format is one text rendering of the same structured content (`structuredContent`), whose
items carry the bridge's keys (`memory_id`, `content`, `tags`, `importance`, `created_at`,
`updated_at`, `final_score`, `match_type`; the rich formats add type, confidence, metadata,
relations). As in the bridge, previews and a response budget keep an answer under a client's
tool-response cap: content is cut at CONTENT_PREVIEW_CHARS (except for `json` and a fetch by
id), and trailing results are dropped past RESPONSE_CHAR_BUDGET, saying so in `truncation`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from mcp_types import CallToolResult, TextContent

RecallFormat = Literal["text", "items", "detailed", "json"]
Mode = Literal["ranked", "enumeration", "id_fetch"]

CONTENT_PREVIEW_CHARS = 700
"""Content longer than this is shown as a preview in text, items and detailed (the bridge's figure)."""
MAX_RELATIONS = 5
"""Relations listed per result in the rich formats; the total is given beside them."""
RESPONSE_CHAR_BUDGET = 80_000
"""Results past this many characters of answer are left out (the first is always kept)."""
ENVELOPE_RESERVE_CHARS = 2_000

ENVELOPE_KEYS = (
    "mode", "has_more", "limit", "offset", "dedup_removed", "query", "queries", "sort", "time_window", "tags",
    "tag_mode", "tag_match", "exclude_tags", "expansion", "entity_expansion", "context_priority", "state_filter",
    "state_mode", "tag_scope", "scope_fallback", "recency_bias", "score_filter", "vector_search", "query_time_ms",
    "degraded", "warnings",
)  # fmt: skip
"""Keys of the service's answer passed on beside the results, when present."""


@dataclass(frozen=True)
class Rendered:
    item: dict[str, Any]
    text: str
    cost: int
    truncated: bool


def recall_result(answer: dict[str, Any], fmt: RecallFormat) -> CallToolResult:
    """The tool result for a recall answer (`results` as GET /recall gives them, plus `mode`)."""
    results: list[dict[str, Any]] = answer.get("results") or []
    id_fetch = answer.get("mode") == "id_fetch"
    budgeted, rich = not id_fetch and fmt != "json", fmt in ("detailed", "json")
    envelope = {key: answer[key] for key in ENVELOPE_KEYS if answer.get(key) is not None}
    if not results:
        empty = {"count": 0, "results": [], **envelope}
        return _result("No memories found matching your query.", empty)
    rendered = [_render(entry, index, fmt, rich=rich, budgeted=budgeted) for index, entry in enumerate(results)]
    kept = rendered if id_fetch else _within_budget(rendered)
    omitted = len(rendered) - len(kept)
    structured: dict[str, Any] = {"count": answer.get("count", len(results)), **envelope}
    structured["results"] = [entry.item for entry in kept]
    if omitted:
        structured["truncation"] = {"applied": True, "omitted_results": omitted, "reason": "response_char_budget"}
    trailer = _trailer(kept, len(rendered), omitted)
    if fmt == "json":
        return _result(json.dumps(structured, indent=2, ensure_ascii=False), structured)
    if fmt == "items":
        blocks = [entry.text for entry in kept] + ([trailer] if trailer else [])
        return CallToolResult(
            content=[TextContent(type="text", text=block) for block in blocks], structured_content=structured
        )
    showing = f" (showing {len(kept)})" if omitted else ""
    notes = _notes(answer)
    body = "\n\n".join(entry.text for entry in kept)
    text = f"Found {len(results)} memories{showing}{notes}:\n\n{body}" + (f"\n\n{trailer}" if trailer else "")
    return _result(text, structured)


def _result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def _render(entry: dict[str, Any], index: int, fmt: RecallFormat, *, rich: bool, budgeted: bool) -> Rendered:
    memory: dict[str, Any] = entry.get("memory") or {}
    content = str(memory.get("content", ""))
    truncated = budgeted and len(content) > CONTENT_PREVIEW_CHARS
    preview = content[:CONTENT_PREVIEW_CHARS] + "…" if truncated else content
    item: dict[str, Any] = {"memory_id": memory.get("id"), "content": preview}
    if truncated:
        item |= {"content_truncated": True, "content_chars": len(content)}
    if memory.get("summary"):
        item["summary"] = memory["summary"]
    item |= {
        "tags": memory.get("tags", []),
        "importance": memory.get("importance"),
        "created_at": memory.get("timestamp"),
        "updated_at": memory.get("updated_at"),
        "final_score": entry.get("final_score"),
        "match_type": entry.get("match_type"),
    }
    for key in ("outside_tag_scope", "state_replaces", "expanded_from_entity"):
        if entry.get(key) is not None:
            item[key] = entry[key]
    if rich:
        item |= _rich(entry, memory, fmt, budgeted=budgeted)
    text = ""
    if fmt == "items":
        text = f"[{item['memory_id']}] {preview}"
    elif fmt == "detailed":
        text = _detailed_block(item, memory, preview)
    elif fmt == "text":
        text = _text_block(item, entry, preview, index)
    size = len(json.dumps(item, ensure_ascii=False, default=str))
    return Rendered(item, text, size * 2 if fmt == "json" else size + len(text), truncated)


def _rich(entry: dict[str, Any], memory: dict[str, Any], fmt: RecallFormat, *, budgeted: bool) -> dict[str, Any]:
    relations = entry.get("relations") or []
    extra: dict[str, Any] = {
        "last_accessed": memory.get("last_accessed"),
        "metadata": memory.get("metadata", {}),
        "type": memory.get("type"),
        "confidence": memory.get("confidence"),
        "match_score": entry.get("match_score"),
        "source": entry.get("source"),
        "relations": relations[:MAX_RELATIONS] if budgeted else relations,
    }
    if budgeted and len(relations) > MAX_RELATIONS:
        extra["relations_total"] = len(relations)
    if fmt == "json" or not budgeted:
        extra |= {
            "score_components": entry.get("score_components"),
            "t_valid": memory.get("t_valid"),
            "t_invalid": memory.get("t_invalid"),
        }
    return extra


def _text_block(item: dict[str, Any], entry: dict[str, Any], preview: str, index: int) -> str:
    tags = f" [{', '.join(item['tags'])}]" if item["tags"] else ""
    importance = f" (importance: {item['importance']})" if item["importance"] is not None else ""
    score = f" score={item['final_score']:.3f}" if isinstance(item["final_score"], int | float) else ""
    match = f" [{item['match_type']}]" if item["match_type"] else ""
    relations = f" relations={len(entry['relations'])}" if entry.get("relations") else ""
    via = f" [via entity: {item['expanded_from_entity']}]" if item.get("expanded_from_entity") else ""
    updated = f"  Updated: {item['updated_at']}" if item["updated_at"] else ""
    return (
        f"{index + 1}. {preview}{tags}{importance}{score}{match}{relations}{via}\n"
        f"   ID: {item['memory_id']}\n   Created: {item['created_at']}{updated}"
    )


def _detailed_block(item: dict[str, Any], memory: dict[str, Any], preview: str) -> str:
    lines = [preview, f"  ID: {item['memory_id']}"]
    if memory.get("type"):
        lines.append(f"  Type: {memory['type']}")
    lines.append(f"  Created: {item['created_at']}")
    for label, key in (("Updated", "updated_at"), ("Accessed", "last_accessed")):
        if memory.get(key):
            lines.append(f"  {label}: {memory[key]}")
    for label, key in (("Importance", "importance"), ("Confidence", "confidence")):
        if isinstance(memory.get(key), int | float):
            lines.append(f"  {label}: {memory[key]:.3f}")
    if item["tags"]:
        lines.append(f"  Tags: {', '.join(item['tags'])}")
    if isinstance(item["final_score"], int | float):
        lines.append(f"  Score: {item['final_score']:.3f}")
    if item["match_type"]:
        lines.append(f"  Match: {item['match_type']}")
    return "\n".join(lines)


def _within_budget(rendered: list[Rendered]) -> list[Rendered]:
    kept: list[Rendered] = []
    total = ENVELOPE_RESERVE_CHARS
    for entry in rendered:
        if kept and total + entry.cost > RESPONSE_CHAR_BUDGET:
            break
        kept.append(entry)
        total += entry.cost
    return kept


def _notes(answer: dict[str, Any]) -> str:
    notes: list[str] = []
    if answer.get("dedup_removed"):
        notes.append(f"{answer['dedup_removed']} duplicates removed")
    entities = answer.get("entity_expansion") or {}
    if entities.get("enabled") and entities.get("expanded_count"):
        found = ", ".join(entities.get("entities_found") or []) or "entities found"
        notes.append(f"{entities['expanded_count']} via entity expansion ({found})")
    expansion = answer.get("expansion") or {}
    if expansion.get("enabled") and expansion.get("expanded_count"):
        notes.append(f"{expansion['expanded_count']} via relation expansion")
    state = answer.get("state_filter")
    if state:
        notes.append(
            f"state filter suppressed {state.get('suppressed_count', 0)}, "
            f"replacements {state.get('replacement_count', 0)}"
        )
    if answer.get("mode") == "enumeration":
        more = " — more pages available" if answer.get("has_more") else ""
        notes.append(f"enumeration page: offset {answer.get('offset', 0)}, limit {answer.get('limit')}{more}")
    return f" ({'; '.join(notes)})" if notes else ""


def _trailer(kept: list[Rendered], total: int, omitted: int) -> str:
    parts: list[str] = []
    if omitted:
        parts.append(f"Response budget: showing {len(kept)} of {total} results; {omitted} omitted.")
    if any(entry.truncated for entry in kept):
        parts.append('Some content previews truncated — fetch full records with recall_memory({ memory_id: "<id>" }).')
    return f"[{' '.join(parts)}]" if parts else ""
