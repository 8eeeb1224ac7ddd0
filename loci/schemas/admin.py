"""Request models for the admin and consolidation routes: re-embed, sync, consolidate."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from loci.schemas.fields import (
    Flag,
)


class AdminReembed(BaseModel):
    """POST /admin/reembed."""

    model_config = ConfigDict(extra="ignore")

    limit: int | None = Field(None, ge=1)
    """Only the newest `limit` memories."""
    force: Flag = False
    """Compute new vectors even where the stored one is current (otherwise only payloads are rewritten)."""
    dry_run: Flag = False
    batch_size: int | None = Field(None, ge=1, le=1000)
    """Accepted for AutoMem clients; the embedding worker's own batching applies."""


class AdminSync(BaseModel):
    """POST /admin/sync."""

    model_config = ConfigDict(extra="ignore")

    dry_run: Flag = False
    batch_size: int | None = Field(None, ge=1, le=1000)


class Consolidate(BaseModel):
    """POST /consolidate."""

    model_config = ConfigDict(extra="ignore")

    mode: Literal["full", "decay", "creative", "cluster", "forget"] = "full"
    dry_run: Flag = True
