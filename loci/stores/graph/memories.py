"""Cypher for memory nodes: create, read, update, delete, count, page through, by tag."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from loci.errors import StoreError
from loci.model import Memory, Stage, StageStatus
from loci.stores.graph.base import PAGE_SIZE, QueryGroup


class MemoryQueries(QueryGroup):
    """Memory nodes."""

    def create(self, memories: Sequence[Memory]) -> None:
        """Write new memory nodes in one query; all or nothing."""
        rows = [memory.to_node() for memory in memories]
        result = self._query("UNWIND $rows AS row CREATE (m:Memory) SET m = row RETURN count(m)", {"rows": rows})
        if result[0][0] != len(rows):
            raise StoreError(f"FalkorDB stored {result[0][0]} of {len(rows)} memories")

    def get(self, memory_id: str) -> Memory | None:
        rows = self._query("MATCH (m:Memory {id: $id}) RETURN m", {"id": memory_id}, read_only=True)
        return Memory.from_node(rows[0][0].properties) if rows else None

    def get_many(self, ids: Sequence[str], fields: Sequence[str] | None = None) -> dict[str, Memory]:
        """The memories among `ids` that exist, by id.

        With `fields` (a fixed list from the caller's code, never from input) only those
        properties are read: a partial Memory, for ranking many candidates cheaply.
        """
        if not ids:
            return {}
        names = ("id", *fields) if fields else ()
        projection = ", ".join(f"m.{name}" for name in names) if fields else "properties(m)"  # columns parse fastest
        rows = self._query(
            f"UNWIND $ids AS id MATCH (m:Memory {{id: id}}) RETURN {projection}",
            {"ids": list(dict.fromkeys(ids))},
            read_only=True,
        )
        nodes = [dict(zip(names, row, strict=True)) for row in rows] if fields else [row[0] for row in rows]
        return {node["id"]: Memory.from_node(node) for node in nodes}

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of these ids still have a memory."""
        if not ids:
            return set()
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) RETURN m.id", {"ids": list(ids)}, read_only=True
        )
        return {row[0] for row in rows}

    def update(self, memory: Memory, fields: Sequence[str]) -> bool:
        """Write only these fields of `memory` (and what derives from them), leaving the rest of the
        node as it is, so concurrent writers of other fields are not undone. False if it is gone."""
        rows = self._query(
            "MATCH (m:Memory {id: $id}) SET m += $props RETURN m.id",
            {"id": memory.id, "props": memory.node_fields(fields)},
        )
        return bool(rows)

    def delete(self, memory_id: str) -> bool:
        rows = self._query("MATCH (m:Memory {id: $id}) DETACH DELETE m RETURN 1", {"id": memory_id})
        return bool(rows)

    def delete_many(self, ids: Sequence[str]) -> list[str]:
        """Delete these memories and their edges; return the ids that existed."""
        if not ids:
            return []
        rows = self._query(
            "UNWIND $ids AS id MATCH (m:Memory {id: id}) WITH m, m.id AS gone DETACH DELETE m RETURN gone",
            {"ids": list(ids)},
        )
        return [row[0] for row in rows]

    def touch(self, ids: Sequence[str], when: str) -> None:
        """Record that these memories were read (`last_accessed`)."""
        if ids:
            self._query(
                "UNWIND $ids AS id MATCH (m:Memory {id: id}) SET m.last_accessed = $when",
                {"ids": list(ids), "when": when},
            )

    def stage_counts(self, excluded_types: Sequence[str] = ()) -> dict[Stage, dict[str, int]]:
        """How many memories are in each state of each pipeline stage."""
        rows = self._query(
            "MATCH (m:Memory) WHERE NOT m.type IN $excluded RETURN m.embedding_status, m.enrichment_status, count(m)",
            {"excluded": list(excluded_types)},
            read_only=True,
        )
        counts = {stage: {status.value: 0 for status in StageStatus} for stage in Stage}
        for embedding, enrichment, count in rows:
            for stage, status in ((Stage.EMBEDDING, embedding), (Stage.ENRICHMENT, enrichment)):
                key = status if status in counts[stage] else StageStatus.PENDING.value
                counts[stage][key] += int(count)
        return counts

    def count(self, excluded_types: Sequence[str] = ()) -> int:
        return sum(self.stage_counts(excluded_types)[Stage.EMBEDDING].values())

    def iter_ids(
        self,
        *,
        stage: Stage = Stage.EMBEDDING,
        status: StageStatus | None = None,
        excluded_types: Sequence[str] = (),
        page_size: int = PAGE_SIZE,
    ) -> Iterator[str]:
        """Every memory id (optionally only those in one state of a stage), paged by id."""
        where = "m.id > $after AND NOT m.type IN $excluded"
        if status:
            where += f" AND m.{stage.value}_status = $status"
        after = ""
        while True:
            rows = self._query(
                f"MATCH (m:Memory) WHERE {where} RETURN m.id ORDER BY m.id LIMIT $limit",
                {
                    "after": after,
                    "status": status.value if status else None,
                    "excluded": list(excluded_types),
                    "limit": page_size,
                },
                read_only=True,
            )
            for (memory_id,) in rows:
                yield memory_id
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def by_tag(self, keys: Sequence[str], limit: int, offset: int) -> list[Memory]:
        """Memories having any tag equal (case-insensitively) to one of `keys`."""
        rows = self._query(
            "MATCH (m:Memory) WHERE ANY(t IN m.tag_keys WHERE t IN $keys) "
            "RETURN m ORDER BY m.importance DESC, m.timestamp DESC, m.id ASC SKIP $offset LIMIT $limit",
            {"keys": list(keys), "offset": offset, "limit": limit},
            read_only=True,
        )
        return [Memory.from_node(row[0].properties) for row in rows]

    def delete_page_by_tag(self, keys: Sequence[str], limit: int = PAGE_SIZE) -> list[str]:
        """Delete up to `limit` memories having one of these tags; return their ids."""
        rows = self._query(
            "MATCH (m:Memory) WHERE ANY(t IN m.tag_keys WHERE t IN $keys) "
            "WITH m LIMIT $limit WITH m, m.id AS id DETACH DELETE m RETURN id",
            {"keys": list(keys), "limit": limit},
        )
        return [row[0] for row in rows]
