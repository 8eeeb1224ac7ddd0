"""The MCP server: AutoMem's six bridge tools, Loci's four more, a memory resource and a startup prompt.

`build_server(connect)` registers them on the SDK's `MCPServer`; `connect(ctx)` gives the
`LociApi` for one call (in process for /mcp, over HTTP for stdio), so both transports share
this code and every tool goes through the REST API's validation and authentication.
Names, argument names and defaults are those of AutoMem's MCP bridge (`store_memory`,
`recall_memory`, `associate_memories`, `update_memory`, `delete_memory`,
`check_database_health`), with its result text and structured content; the argument schemas
come from the annotations below (enums, ranges, descriptions), and an argument outside them
is a tool error naming it. Recall's output formats: loci/mcp/recall_output.py.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from loci.mcp import more_tools
from loci.mcp.api import LociApi
from loci.mcp.recall_output import RecallFormat, recall_result
from loci.model import MEMORY_TYPES

Connect = Callable[[Context], LociApi]
"""The API for the call a context belongs to."""

INSTRUCTIONS = (
    "Loci is the assistant's persistent long-term memory (graph + vectors). Use recall_memory to retrieve "
    "context (at session start, before decisions, when debugging), store_memory to persist decisions, patterns, "
    "preferences and fixes, and associate_memories to link related memories. update_memory edits a memory in "
    "place, delete_memory removes one by id or all with a tag, check_database_health checks the service; "
    "memory_status follows stored memories until they are searchable, get_memory reads one, related_memories "
    "walks the graph from one, and startup_context loads the lessons and rules to keep in mind this session."
)
BATCH_LIMIT = 500

MemoryType = Literal["Decision", "Pattern", "Preference", "Style", "Habit", "Insight", "Context", "Memory"]
# kept in step with loci/model.py; a Literal alias has __args__ at run time but not for mypy
assert MemoryType.__args__ == MEMORY_TYPES  # type: ignore[attr-defined]
Unit = Annotated[float, Field(ge=0, le=1)]
Tags = list[str]


class BatchItem(BaseModel):
    """One memory of a batch store."""

    model_config = ConfigDict(extra="forbid")
    content: Annotated[str, Field(min_length=1, description="The memory text.")]
    tags: Tags | None = None
    importance: Unit | None = None
    timestamp: str | None = None
    type: MemoryType | None = None
    confidence: Unit | None = None
    metadata: dict[str, Any] | None = None


def build_server(connect: Connect) -> MCPServer:
    server = MCPServer("loci", instructions=INSTRUCTIONS)
    register_store(server, connect)
    register_recall(server, connect)
    register_health(server, connect)
    more_tools.register(server, connect)
    return server


def text_result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def given(**fields: Any) -> dict[str, Any]:
    """The arguments the caller gave (None is "not given"), models as plain JSON."""
    return {
        name: value.model_dump(exclude_none=True) if isinstance(value, BaseModel) else value
        for name, value in fields.items()
        if value is not None
    }


def register_store(server: MCPServer, connect: Connect) -> None:
    @server.tool(
        title="Store Memory",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False),
    )
    def store_memory(
        ctx: Context,
        content: Annotated[
            str | None,
            Field(description="Single-memory mode (not with `memories`). Be specific: context, reasoning, outcome."),
        ] = None,
        memories: Annotated[
            list[BatchItem] | None,
            Field(max_length=BATCH_LIMIT, description="Batch mode (not with `content`): up to 500 memories."),
        ] = None,
        tags: Annotated[Tags | None, Field(description='Tags, e.g. ["project-name", "bug-fix"].')] = None,
        importance: Annotated[
            Unit | None, Field(description="0.9+ critical decisions, 0.7-0.9 patterns/bugs, 0.5-0.7 minor notes.")
        ] = None,
        embedding: Annotated[
            list[float] | None, Field(description="Single mode only: a vector (computed by Loci if omitted).")
        ] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Structured metadata.")] = None,
        timestamp: Annotated[str | None, Field(description="ISO 8601 time of the memory (default: now).")] = None,
        type: Annotated[MemoryType | None, Field(description="Memory type (classified by Loci if omitted).")] = None,
        confidence: Annotated[
            Unit | None, Field(description="Confidence in the type (default 0.9 with a type).")
        ] = None,
        t_valid: Annotated[str | None, Field(description="Single mode only: ISO 8601 time it becomes valid.")] = None,
        t_invalid: Annotated[str | None, Field(description="Single mode only: ISO 8601 time it expires.")] = None,
        updated_at: Annotated[str | None, Field(description="ISO 8601 last-updated time.")] = None,
        last_accessed: Annotated[str | None, Field(description="ISO 8601 last-accessed time.")] = None,
    ) -> CallToolResult:
        """Store a memory (`content`) or up to 500 at once (`memories`).

        When to use: after a decision (its reasoning and outcome), on finding a pattern, after fixing a bug
        (root cause and fix), on learning a preference (what and why); batch mode for imports.
        Aim for 150-300 characters: "Brief title. Context and details. Impact."
        The memory is stored at once; it becomes searchable by meaning a moment later (memory_status says when).
        """
        if (content is None) == (memories is None):
            raise ToolError("Give either `content` (one memory) or `memories` (a batch), not both or neither")
        with connect(ctx) as api:
            if memories is not None:
                answer = api.call(
                    "POST",
                    "/memory/batch",
                    body={"memories": [item.model_dump(exclude_none=True) for item in memories]},
                )
                return _batch_stored(answer)
            fields = given(
                content=content, tags=tags, importance=importance, embedding=embedding, metadata=metadata,
                timestamp=timestamp, type=type, confidence=confidence, t_valid=t_valid, t_invalid=t_invalid,
                updated_at=updated_at, last_accessed=last_accessed,
            )  # fmt: skip
            return _stored(api.call("POST", "/memory", body=fields))


def _stored(answer: dict[str, Any]) -> CallToolResult:
    message = "Memory stored" + (" (a repeat of a stored memory)" if answer.get("deduplicated") else "")
    text = f"Memory stored successfully!\n\nMemory ID: {answer['memory_id']}\nMessage: {message}"
    structured: dict[str, Any] = {"memory_id": answer["memory_id"], "message": message}
    if answer.get("summarized"):
        text += f"\n📝 Auto-summarized: {answer['original_length']} → {answer['summarized_length']} chars"
        structured |= {key: answer[key] for key in ("summarized", "original_length", "summarized_length")}
    return text_result(text, structured)


def _batch_stored(answer: dict[str, Any]) -> CallToolResult:
    ids: list[str] = answer["memory_ids"]
    preview = ", ".join(ids[:10]) + (f", …(+{len(ids) - 10})" if len(ids) > 10 else "")
    message = f"Stored {answer['stored']} memories"
    structured = {"stored": answer["stored"], "memory_ids": ids, "message": message}
    structured |= {key: answer[key] for key in ("qdrant", "enrichment", "query_time_ms") if key in answer}
    return text_result(f"Stored {answer['stored']} memories.\nIDs: {preview}\nMessage: {message}", structured)


class RecallOptions(BaseModel):
    """Every option of GET /recall, as recall_memory takes them (None: the service's default)."""

    query: Annotated[str | None, Field(description="What you are looking for, in natural language.")] = None
    queries: Annotated[list[str] | None, Field(description="Several queries at once; results merged.")] = None
    embedding: Annotated[list[float] | None, Field(description="A query vector instead of text.")] = None
    limit: Annotated[int, Field(ge=1, le=200, description="Most memories to return (default 5).")] = 5
    time_query: Annotated[
        str | None, Field(description='Natural-language time filter: "today", "yesterday", "last 7 days", ...')
    ] = None
    start: Annotated[str | None, Field(description="ISO 8601 lower time bound.")] = None
    end: Annotated[str | None, Field(description="ISO 8601 upper time bound.")] = None
    tags: Annotated[list[str] | None, Field(description="Filter by tags (a project tag first, to scope).")] = None
    tag_mode: Annotated[Literal["any", "all"] | None, Field(description="any (default) or all tags.")] = None
    tag_match: Annotated[Literal["exact", "prefix"] | None, Field(description="exact (default) or prefix.")] = None
    exclude_tags: Annotated[list[str] | None, Field(description="Leave out memories with any of these.")] = None
    expand_entities: Annotated[
        bool | None, Field(description="Multi-hop: also memories about people/things the results mention.")
    ] = None
    expand_relations: Annotated[bool | None, Field(description="Also memories linked to the results.")] = None
    expand_respect_tags: Annotated[bool | None, Field(description="Expanded memories must match `tags`.")] = None
    auto_decompose: Annotated[bool | None, Field(description="Also search each name with each topic word.")] = None
    expansion_limit: Annotated[int, Field(ge=1, le=500, description="Most expanded memories (25).")] = 25
    relation_limit: Annotated[int, Field(ge=1, le=200, description="Most relations per result (5).")] = 5
    expand_min_importance: Annotated[Unit | None, Field(description="Least importance of expanded memories.")] = None
    expand_min_strength: Annotated[Unit | None, Field(description="Least edge strength followed.")] = None
    current_only: Annotated[
        bool | None, Field(description="Leave out superseded/expired memories (service default: true).")
    ] = None
    state_debug: Annotated[bool | None, Field(description="List what the current-state step dropped.")] = None
    state_mode: Annotated[
        Literal["current", "history"] | None, Field(description="history includes superseded memories.")
    ] = None
    recency_bias: Annotated[Literal["auto", "on", "off"] | None, Field(description="Favour newer memories.")] = None
    scope_fallback: Annotated[bool | None, Field(description="Fill from outside `tags` when short.")] = None
    min_score: Annotated[Unit | None, Field(description="Least final score.")] = None
    adaptive_floor: Annotated[bool | None, Field(description="Stop results at a score cliff.")] = None
    context: Annotated[str | None, Field(description='A focus label, e.g. "coding-style".')] = None
    language: Annotated[str | None, Field(description='Programming language, e.g. "python".')] = None
    active_path: Annotated[str | None, Field(description="The current file (its language is the focus).")] = None
    context_tags: Annotated[list[str] | None, Field(description="Tags to boost.")] = None
    context_types: Annotated[list[MemoryType] | None, Field(description="Memory types to boost.")] = None
    priority_ids: Annotated[list[str] | None, Field(description="Memory ids that must come first.")] = None
    per_query_limit: Annotated[int | None, Field(ge=1, le=50, description="Results per query of `queries`.")] = None
    sort: Annotated[
        Literal["score", "time_desc", "time_asc", "updated_desc", "updated_asc"] | None,
        Field(description="Order (time_* for chronological recaps)."),
    ] = None


RECALL_MODES: dict[str, tuple[Any, Any]] = {
    "memory_id": (
        Annotated[str | None, Field(description="Fetch this one memory by id; every other argument is ignored.")],
        None,
    ),
    "exhaustive": (
        Annotated[
            bool | None,
            Field(description="List every memory with `tags` (exact, any), paged by limit/offset; not ranked."),
        ],
        None,
    ),
    "offset": (Annotated[int | None, Field(ge=0, description="Page offset (with `exhaustive`).")], None),
    "format": (
        Annotated[
            RecallFormat, Field(description="text (default), items (a block per memory), detailed, json (every field).")
        ],
        "text",
    ),
}
"""recall_memory's arguments beside RecallOptions: which mode, and the output format."""


def recall_signature() -> inspect.Signature:
    """recall_memory's flat argument list (the bridge's), from RecallOptions' fields and RECALL_MODES:
    the SDK builds the input schema from the signature, so the options are declared once, with the model."""
    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    for name, (annotation, default) in RECALL_MODES.items():
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation))
    for name, field in RecallOptions.model_fields.items():
        annotation = Annotated[field.annotation, field]
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=annotation)
        )
    return inspect.Signature(params, return_annotation=CallToolResult)


def register_recall(server: MCPServer, connect: Connect) -> None:
    def recall_memory(ctx: Context, **arguments: Any) -> CallToolResult:
        """Recall memories: ranked by meaning, words, tags and time (default); by id (`memory_id`);
        or every memory with some tags (`tags` + `exhaustive: true`).

        When to use: at the start of a conversation (context on the project), before a decision (past
        decisions on it), when debugging (similar errors and their fixes); `expand_entities` for multi-hop
        questions. Example: {"query": "database decisions", "tags": ["my-project"], "limit": 5}.
        """
        options = RecallOptions.model_validate({name: arguments[name] for name in RecallOptions.model_fields})
        with connect(ctx) as api:
            if arguments["memory_id"] is not None:
                found = api.call("GET", f"/memory/{arguments['memory_id']}")["memory"]
                answer = {"mode": "id_fetch", "count": 1, "results": [{"memory": found, "match_type": "id"}]}
            elif arguments["exhaustive"]:
                answer = _enumerate(api, options, arguments["offset"])
            else:
                body = options.model_dump(exclude_none=True)
                answer = {"mode": "ranked", **api.call("POST", "/recall", body=body)}
        return recall_result(answer, arguments["format"])

    # the SDK builds the tool's schema from the signature; functions have no declared __signature__ for mypy
    recall_memory.__signature__ = recall_signature()  # type: ignore[attr-defined]
    server.add_tool(
        recall_memory,
        title="Recall Memory",
        annotations=ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True),
    )


def _enumerate(api: LociApi, options: RecallOptions, offset: int | None) -> dict[str, Any]:
    if not options.tags:
        raise ToolError("`exhaustive: true` lists the memories with `tags`; give at least one tag")
    if options.tag_match == "prefix" or options.tag_mode == "all":
        raise ToolError("`exhaustive: true` matches tags exactly, any of them: leave out tag_match/tag_mode")
    params = {"tags": options.tags, "limit": options.limit, "offset": offset or 0}
    page = api.call("GET", "/memory/by-tag", params=params)
    results = [{"memory": memory, "match_type": "tag"} for memory in page["memories"]]
    keys = ("count", "limit", "offset", "has_more", "tags")
    return {"mode": "enumeration", "results": results, **{key: page[key] for key in keys}}


def register_health(server: MCPServer, connect: Connect) -> None:
    @server.tool(
        title="Check Database Health",
        annotations=ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True),
    )
    def check_database_health(ctx: Context) -> CallToolResult:
        """Check the memory service and its stores (FalkorDB graph, Qdrant vectors).

        When to use: before a session to see the memory is there, when memory tools fail, for counts.
        """
        with connect(ctx) as api:
            try:
                health = api.call("GET", "/health")
            except ToolError as exc:
                health = {"status": "error", "error": str(exc)}
        status = health.get("status", "error")
        status = status if status in ("healthy", "degraded") else "error"
        lines = [f"{'✅' if status == 'healthy' else '⚠️' if status == 'degraded' else '❌'} Loci Health Status", ""]
        lines += [f"Status: {status}", "Backend: loci"]
        for label, key in (("FalkorDB", "falkordb"), ("Qdrant", "qdrant")):
            if key in health:
                value = health[key]
                lines.append(f"{label}: {value.get('status', json.dumps(value)) if isinstance(value, dict) else value}")
        for label, key in (("Memory count", "memory_count"), ("Vector count", "vector_count")):
            if key in health:
                lines.append(f"{label}: {health[key]}")
        if health.get("sync_status"):
            lines.append(f"Sync status: {health['sync_status']}")
        if health.get("error"):
            lines.append(f"Error: {health['error']}")
        structured = {"status": status, "backend": "loci", "statistics": health}
        if health.get("error"):
            structured["error"] = health["error"]
        return text_result("\n".join(lines), structured)
