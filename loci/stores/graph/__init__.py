"""GraphStore: every Cypher query Loci runs, each behind a named method, grouped by concern.

FalkorDB is the record. Memories are `Memory` nodes (see `loci.model.Memory.to_node`),
relationships are typed edges between them. Every query takes its values as parameters;
the only text ever formatted into a query is a relationship type or a depth, and those
come from `RelationType` or a validated integer. Scans are paged by `id`, so nothing is
truncated by FalkorDB's result-set cap however large the graph grows.

    base.py        GraphConnection (the connection, schema, where every query is sent), QueryGroup
    memories.py    memory nodes
    relations.py   edges, walks, replacements
    search.py      full-text word matches, predecessors in time, filtered listings
    pipeline.py    embedding and enrichment progress on nodes, similarity links
    enrichment.py  temporal links and patterns
    entities.py    Entity nodes, REFERENCED_IN edges, merges
    maintenance.py consolidation scans, links, clusters, forgetting, run history
    insights.py    start-up lessons, analytics
    backup.py      point-in-time snapshots read in pages (backup); nodes and edges written back (restore)
    explore.py     the viewer's snapshot, neighbourhoods and counts
    vectors.py     FalkorDB's vector index over memory nodes (VECTOR_STORE=falkordb)
"""

from loci.stores.graph.backup import BackupQueries, RawEdge, RawNode, Snapshot
from loci.stores.graph.base import PAGE_SIZE, GraphConnection, QueryGroup, pages
from loci.stores.graph.enrichment import EnrichmentQueries
from loci.stores.graph.entities import EntityMention, EntityQueries, EntityRecord, MergeResult
from loci.stores.graph.explore import ExploreQueries
from loci.stores.graph.insights import InsightQueries
from loci.stores.graph.maintenance import DecayRow, MaintenanceQueries
from loci.stores.graph.memories import MemoryQueries
from loci.stores.graph.pipeline import PipelineQueries
from loci.stores.graph.relations import Neighbor, Related, RelationQueries
from loci.stores.graph.search import ORDERS, SearchQueries, filter_clause
from loci.stores.graph.vectors import VectorQueries

__all__ = [
    "ORDERS",
    "PAGE_SIZE",
    "BackupQueries",
    "DecayRow",
    "EnrichmentQueries",
    "EntityMention",
    "EntityQueries",
    "EntityRecord",
    "ExploreQueries",
    "GraphConnection",
    "GraphStore",
    "InsightQueries",
    "MaintenanceQueries",
    "MemoryQueries",
    "MergeResult",
    "Neighbor",
    "PipelineQueries",
    "QueryGroup",
    "RawEdge",
    "RawNode",
    "Related",
    "RelationQueries",
    "SearchQueries",
    "Snapshot",
    "VectorQueries",
    "filter_clause",
    "pages",
]


class GraphStore(GraphConnection):
    """Memories and their relationships in one FalkorDB graph: one connection, its query groups.

    A caller that needs only some queries takes only that group (the write path takes
    `graph.memories` and `graph.relations`, not the whole store), so its dependencies read
    from its signature.
    """

    def __init__(
        self,
        host: str,
        port: int,
        graph_name: str,
        password: str | None = None,
        socket_timeout: float = 10.0,
    ) -> None:
        super().__init__(host, port, graph_name, password, socket_timeout)
        self.memories = MemoryQueries(self)
        self.relations = RelationQueries(self)
        self.search = SearchQueries(self)
        self.pipeline = PipelineQueries(self)
        self.enrichment = EnrichmentQueries(self)
        self.entities = EntityQueries(self)
        self.maintenance = MaintenanceQueries(self)
        self.insights = InsightQueries(self)
        self.backup = BackupQueries(self)
        self.explore = ExploreQueries(self)
        self.vectors = VectorQueries(self)
