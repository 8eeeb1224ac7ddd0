"""The base of every response model, the error envelope, and a memory as the API shows it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """Base of every response model: the schemas say what is always there and allow more keys."""

    model_config = ConfigDict(extra="allow")


class ErrorEnvelope(Body):
    """AutoMem's error envelope, for every error a client can cause."""

    status: Literal["error"]
    code: int = Field(description="The HTTP status again.")
    message: str
    field: str | None = Field(None, description="The request field (or header) at fault, when there is one.")


class Memory(Body):
    """A memory as stored: its fields, pipeline state and what enrichment added."""

    id: str
    content: str
    type: str
    confidence: float
    importance: float
    timestamp: str
    updated_at: str
    last_accessed: str
    t_valid: str
    t_invalid: str | None
    tags: list[str]
    metadata: dict[str, Any]
    embedding_status: Literal["pending", "completed", "failed"]
    enrichment_status: Literal["pending", "completed", "failed"]
    embedding_attempts: int | None = None
    embedding_error: str | None = None
    enrichment_attempts: int | None = None
    enrichment_error: str | None = None
    enriched_at: str | None = None
    summary: str | None = None
    archived: bool | None = None
    protected: bool | None = None
    relevance_score: float | None = None
    stored_at: str | None = None
