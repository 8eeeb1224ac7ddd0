"""The tools that change or walk memories: associate, update, delete (AutoMem's bridge), and Loci's
memory_status, get_memory, related_memories and startup_context; the `memory://{id}` resource and
the `startup_context` prompt. Registered by loci/mcp/tools.py's `build_server`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from loci.mcp.api import LociApi

Connect = Callable[[Context], LociApi]
Unit = Annotated[float, Field(ge=0, le=1)]
MemoryType = Literal["Decision", "Pattern", "Preference", "Style", "Habit", "Insight", "Context", "Memory"]
Relation = Literal[
    "RELATES_TO", "LEADS_TO", "OCCURRED_BEFORE", "PREFERS_OVER", "EXEMPLIFIES", "CONTRADICTS", "REINFORCES",
    "INVALIDATED_BY", "EVOLVED_INTO", "DERIVED_FROM", "PART_OF",
]  # fmt: skip
"""The relation types a client may create (loci/model.py AUTHORABLE_RELATIONS)."""
AnyRelation = Relation | Literal["SIMILAR_TO", "PRECEDED_BY", "DISCOVERED"]
READ = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True)
STATUS_IDS_LIMIT = 1000


class Link(BaseModel):
    """One association: memory1 -[type]-> memory2, with the properties its type keeps."""

    model_config = ConfigDict(extra="forbid")
    memory1_id: Annotated[str, Field(description="The source memory's id (from store or recall).")]
    memory2_id: Annotated[str, Field(description="The target memory's id.")]
    type: Annotated[Relation, Field(description="What the link means (RELATES_TO, EVOLVED_INTO, ...).")]
    strength: Annotated[Unit, Field(description="0.9+ direct causation, 0.7-0.9 strong, 0.5-0.7 moderate.")]
    context: str | None = None
    reason: str | None = None
    pattern_type: str | None = None
    confidence: Unit | None = None
    resolution: str | None = None
    observations: list[str] | None = None
    timestamp: str | None = None
    transformation: str | None = None
    role: str | None = None


def result(text: str, structured: dict[str, Any]) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


def register(server: MCPServer, connect: Connect) -> None:
    register_changes(server, connect)
    register_reads(server, connect)
    register_context(server, connect)


def register_changes(server: MCPServer, connect: Connect) -> None:
    @server.tool(
        title="Associate Memories",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True),
    )
    def associate_memories(
        ctx: Context,
        memory1_id: Annotated[str | None, Field(description="The source memory's id.")] = None,
        memory2_id: Annotated[str | None, Field(description="The target memory's id.")] = None,
        type: Annotated[Relation | None, Field(description="What the link means.")] = None,
        strength: Annotated[Unit | None, Field(description="0.9+ direct causation, 0.5-0.7 moderate.")] = None,
        associations: Annotated[
            list[Link] | None, Field(min_length=1, max_length=500, description="Batch mode: up to 500 links.")
        ] = None,
    ) -> CallToolResult:
        """Link two memories with a typed relationship (or many with `associations`), so recall brings
        related context along.

        When to use: after storing a memory related to an earlier one; when a fix relates to a feature;
        when a new decision replaces an old one (old EVOLVED_INTO new, or INVALIDATED_BY); to connect a
        pattern with its examples (EXEMPLIFIES).
        """
        single = {"memory1_id": memory1_id, "memory2_id": memory2_id, "type": type, "strength": strength}
        with connect(ctx) as api:
            if associations is not None:
                links = [link.model_dump(exclude_none=True) for link in associations]
                answer = api.call("POST", "/associate", body={"associations": links})
            else:
                if memory1_id is None or memory2_id is None or type is None:
                    raise ToolError("Give memory1_id, memory2_id and type (or `associations` for a batch)")
                answer = api.call("POST", "/associate", body={k: v for k, v in single.items() if v is not None})
        success = answer.get("status") == "success"
        message = answer.get("message") or f"{answer.get('created_count', 0)} associations created"
        structured = {"success": success, "message": message}
        structured |= {k: answer[k] for k in ("created_count", "failed_count", "succeeded", "failed") if k in answer}
        counts = f"\n\nCreated: {answer['created_count']}\nFailed: {answer['failed_count']}" if associations else ""
        head = "Association created successfully!" if success else "Association completed with failures."
        return result(f"{head}\n\nMessage: {message}{counts}", structured)

    @server.tool(
        title="Update Memory",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=True),
    )
    def update_memory(
        ctx: Context,
        memory_id: Annotated[str, Field(description="The memory to change (from store or recall).")],
        content: Annotated[str | None, Field(description="New content (replaces it).")] = None,
        tags: Annotated[list[str] | None, Field(description="New tags (replace them).")] = None,
        importance: Annotated[Unit | None, Field(description="New importance.")] = None,
        metadata: Annotated[dict[str, Any] | None, Field(description="Metadata (merged with the stored).")] = None,
        timestamp: Annotated[str | None, Field(description="ISO 8601 creation time.")] = None,
        t_valid: Annotated[str | None, Field(description="ISO 8601 time it becomes valid.")] = None,
        t_invalid: Annotated[str | None, Field(description="ISO 8601 time it expired or was superseded.")] = None,
        updated_at: Annotated[str | None, Field(description="ISO 8601 update time.")] = None,
        last_accessed: Annotated[str | None, Field(description="ISO 8601 last access.")] = None,
        type: Annotated[MemoryType | None, Field(description="Memory type.")] = None,
        confidence: Annotated[Unit | None, Field(description="Confidence in the type.")] = None,
    ) -> CallToolResult:
        """Change a memory in place: content, tags, importance, metadata, type, validity.

        When to use: to correct a memory rather than store a duplicate, add forgotten tags, adjust
        importance, or mark it expired (`t_invalid`).
        """
        fields = {
            "content": content, "tags": tags, "importance": importance, "metadata": metadata,
            "timestamp": timestamp, "t_valid": t_valid, "t_invalid": t_invalid, "updated_at": updated_at,
            "last_accessed": last_accessed, "type": type, "confidence": confidence,
        }  # fmt: skip
        body = {name: value for name, value in fields.items() if value is not None}
        if not body:
            raise ToolError("Nothing to update: give at least one field besides memory_id")
        with connect(ctx) as api:
            answer = api.call("PATCH", f"/memory/{memory_id}", body=body)
        message = f"Memory {answer['memory_id']} updated successfully!"
        return result(message, {"memory_id": answer["memory_id"], "message": message})

    @server.tool(
        title="Delete Memory",
        annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=False),
    )
    def delete_memory(
        ctx: Context,
        memory_id: Annotated[str | None, Field(description="Delete this one memory (not with `tags`).")] = None,
        tags: Annotated[
            list[str] | None,
            Field(min_length=1, description="Delete EVERY memory with any of these tags (exact). No dry run."),
        ] = None,
    ) -> CallToolResult:
        """Delete a memory by id, or every memory with some tags.

        When to use: sparingly, for a wrong memory that cannot be corrected (update_memory corrects one)
        or a duplicate; tags for cleaning up test data. Check what a tag delete would take first with
        recall_memory({tags, exhaustive: true}).
        """
        if (memory_id is None) == (tags is None):
            raise ToolError("Give either `memory_id` or `tags`, not both or neither")
        with connect(ctx) as api:
            if tags is not None:
                answer = api.call("DELETE", "/memory/by-tag", params={"tags": tags})
                count = answer["deleted_count"]
                text = (
                    f"Bulk delete complete: removed {count} memor{'y' if count == 1 else 'ies'} "
                    f"matching tag(s) {', '.join(tags)}."
                )
                return result(text, {"deleted_count": count, "tags": tags, "message": text})
            answer = api.call("DELETE", f"/memory/{memory_id}")
        message = f"Memory {answer['memory_id']} deleted successfully!"
        return result(message, {"memory_id": answer["memory_id"], "message": message})


def register_reads(server: MCPServer, connect: Connect) -> None:
    @server.tool(title="Memory Status", annotations=READ)
    def memory_status(
        ctx: Context,
        ids: Annotated[
            list[str], Field(min_length=1, max_length=STATUS_IDS_LIMIT, description="Ids from store_memory.")
        ],
    ) -> CallToolResult:
        """Where stored memories stand: completed (embedded and enriched, fully searchable), pending,
        failed (with the stage and reason) or unknown.

        When to use: after a batch store_memory, to know when the memories can be recalled by meaning.
        """
        with connect(ctx) as api:
            answer = api.call("POST", "/memory/status", body={"ids": ids})
        keys = ("completed_ids", "pending_ids", "failed_ids", "failed", "unknown_ids")
        structured = {key: answer[key] for key in keys}
        counts = ", ".join(f"{len(answer[k])} {k.removesuffix('_ids')}" for k in keys if k.endswith("_ids"))
        failed = "".join(f"\n- {f['id']}: {f['stage']} failed: {f['reason']}" for f in answer["failed"])
        return result(f"Memory status: {counts}.{failed}", structured)

    @server.tool(title="Get Memory", annotations=READ)
    def get_memory(ctx: Context, memory_id: Annotated[str, Field(description="The memory's id.")]) -> CallToolResult:
        """Read one memory whole by id: content, tags, type, metadata, validity and pipeline state.

        When to use: when a recall result was a preview, or to check a memory before changing it.
        """
        with connect(ctx) as api:
            memory = api.call("GET", f"/memory/{memory_id}")["memory"]
        return result(json.dumps(memory, indent=2, ensure_ascii=False), {"memory": memory})

    @server.tool(title="Related Memories", annotations=READ)
    def related_memories(
        ctx: Context,
        memory_id: Annotated[str, Field(description="The memory to start from.")],
        relationship_types: Annotated[
            list[AnyRelation] | None, Field(description="Edges to follow (default: every authorable type).")
        ] = None,
        max_depth: Annotated[int, Field(ge=1, le=3, description="Hops (1-3).")] = 1,
        limit: Annotated[int | None, Field(ge=1, le=200, description="Most memories returned.")] = None,
    ) -> CallToolResult:
        """Memories linked to one memory in the graph, within `max_depth` hops.

        When to use: to see what led to a decision, what replaced it, or what a pattern exemplifies.
        """
        params = {"relationship_types": relationship_types, "max_depth": max_depth, "limit": limit}
        with connect(ctx) as api:
            answer = api.call("GET", f"/memories/{memory_id}/related", params=params)
        related: list[dict[str, Any]] = answer["related_memories"]
        lines = [f"{len(related)} memories related to {memory_id}:"]
        lines += [f"- {json.dumps(item, ensure_ascii=False)}" for item in related]
        return result("\n".join(lines), {"memory_id": memory_id, "related_memories": related})


def register_context(server: MCPServer, connect: Connect) -> None:
    def lessons(ctx: Context) -> tuple[str, dict[str, Any]]:
        with connect(ctx) as api:
            answer = api.call("GET", "/startup-recall")
        return render_startup(answer), answer

    @server.tool(title="Startup Context", annotations=READ)
    def startup_context(ctx: Context) -> CallToolResult:
        """The lessons (tags critical, lesson, ai-assistant) and system rules to keep in mind this session.

        When to use: once, at the start of a session, before the first task.
        """
        text, answer = lessons(ctx)
        return result(text, answer)

    @server.resource("memory://{memory_id}", name="memory", mime_type="application/json")
    def memory_resource(memory_id: str, ctx: Context) -> str:
        """One memory, whole, as JSON."""
        with connect(ctx) as api:
            return json.dumps(api.call("GET", f"/memory/{memory_id}")["memory"], ensure_ascii=False)

    @server.prompt(name="startup_context", title="Load startup context")
    def startup_prompt(ctx: Context) -> str:
        """The lessons and rules from memory to keep in mind this session."""
        text, _ = lessons(ctx)
        return f"Keep these lessons and rules from long-term memory in mind for this session:\n\n{text}"


def render_startup(answer: dict[str, Any]) -> str:
    """GET /startup-recall as text: its memories listed with their ids."""
    memories = [item for value in answer.values() if isinstance(value, list) for item in value]
    shown = [m for m in memories if isinstance(m, dict) and m.get("content")]
    if not shown:
        return "No startup lessons or rules stored yet."
    return "\n".join(f"- {m['content']} (id: {m.get('id') or m.get('memory_id')})" for m in shown)
