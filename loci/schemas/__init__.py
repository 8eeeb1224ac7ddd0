"""Request models: every body and query string is validated here before anything is written.

They sit below the HTTP layer, so the write path (loci/writes.py), recall and the restore
path use them without importing Flask; turning a query string into values
(`loci.api.inputs.query_values`) stays in loci/api/. One module per concern:

    fields.py    the shared field types (tags, timestamps, vectors, memory ids) and parse()
    memory.py    store, batch, PATCH, pipeline status, re-enrichment, associations
    admin.py     re-embed, sync, consolidate
    restore.py   pages of a backup (POST /admin/restore)
    entities.py  the entity routes
    graph.py     the graph viewer API
"""

from loci.schemas.admin import AdminReembed, AdminSync, Consolidate
from loci.schemas.entities import (
    ENTITY_PAGE_LIMIT,
    EntityAudit,
    EntityCategory,
    EntityLimit,
    EntityMerge,
    EntityPage,
    EntityTagReason,
)
from loci.schemas.fields import (
    MAX_METADATA_BYTES,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    Embedding,
    Flag,
    MemoryId,
    MemoryIds,
    MemoryTypes,
    Tags,
    Timestamp,
    UnitFloat,
    canonical_id,
    parse,
    validation_error,
)
from loci.schemas.graph import (
    NEIGHBOR_MAX_DEPTH,
    SEMANTIC_MAX_LIMIT,
    SNAPSHOT_MAX_NODES,
    GraphNeighborsQuery,
    GraphSnapshotQuery,
    QueryFlag,
)
from loci.schemas.memory import (
    REPROCESS_LIMIT,
    STATUS_LIMIT,
    Association,
    MemoryFields,
    MemoryListing,
    MemoryStatus,
    PatchMemory,
    Reprocess,
    StoreBatch,
    StoreMemory,
)
from loci.schemas.restore import (
    MAX_PROPERTIES,
    MAX_RESTORE_CONTENT,
    RESTORE_EDGE_LIMIT,
    RESTORE_EDGE_TYPES,
    RESTORE_LEGACY_EDGES,
    RESTORE_PAGE_LIMIT,
    Properties,
    RestoreEdge,
    RestoreMemory,
    RestoreNode,
    RestorePage,
)

__all__ = [
    "ENTITY_PAGE_LIMIT",
    "MAX_METADATA_BYTES",
    "MAX_PROPERTIES",
    "MAX_RESTORE_CONTENT",
    "MAX_TAGS",
    "MAX_TAG_LENGTH",
    "NEIGHBOR_MAX_DEPTH",
    "REPROCESS_LIMIT",
    "RESTORE_EDGE_LIMIT",
    "RESTORE_EDGE_TYPES",
    "RESTORE_LEGACY_EDGES",
    "RESTORE_PAGE_LIMIT",
    "SEMANTIC_MAX_LIMIT",
    "SNAPSHOT_MAX_NODES",
    "STATUS_LIMIT",
    "AdminReembed",
    "AdminSync",
    "Association",
    "Consolidate",
    "Embedding",
    "EntityAudit",
    "EntityCategory",
    "EntityLimit",
    "EntityMerge",
    "EntityPage",
    "EntityTagReason",
    "Flag",
    "GraphNeighborsQuery",
    "GraphSnapshotQuery",
    "MemoryFields",
    "MemoryId",
    "MemoryIds",
    "MemoryListing",
    "MemoryStatus",
    "MemoryTypes",
    "PatchMemory",
    "Properties",
    "QueryFlag",
    "Reprocess",
    "RestoreEdge",
    "RestoreMemory",
    "RestoreNode",
    "RestorePage",
    "StoreBatch",
    "StoreMemory",
    "Tags",
    "Timestamp",
    "UnitFloat",
    "canonical_id",
    "parse",
    "validation_error",
]
