"""RecallSources: the parts of the process recall reads from, handed to it once by `Services`."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from loci.config import Settings
from loci.embedding.base import EmbeddingProvider
from loci.pipeline.access import AccessRecorder
from loci.stores.graph import EntityQueries, MemoryQueries, RelationQueries, SearchQueries
from loci.stores.vectors import VectorStore


@dataclass(frozen=True)
class RecallSources:
    """What recall reads from, and where it runs its side reads."""

    memories: MemoryQueries
    search: SearchQueries
    """Full-text matches, filtered listings, predecessors in time."""
    relations: RelationQueries
    entities: EntityQueries
    """Memories sharing an entity with the results (`expand_entities`)."""
    vectors: VectorStore
    provider: EmbeddingProvider
    """Embeds the query."""
    access: AccessRecorder
    """Records which memories were recalled (`last_accessed`), off the request."""
    background: Executor
    """Runs the full-text side, predecessors and relations while the request's own work goes on."""
    settings: Settings
