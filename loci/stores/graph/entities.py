"""Cypher for Entity nodes: the people, tools, projects... that memories mention.

An entity is `(:Entity {id: "entity:<category>:<slug>"})`, the same string as the memory's
`entity:` tag, with `slug`, `category`, `name`, `aliases`, `created_at`,
`last_referenced_at` and, once merged into another, `merged_into`. Each memory that
mentions it has an edge `(entity)-[:REFERENCED_IN]->(memory)`; the reference count is
the number of those edges, never a stored counter, so deleting a memory (DETACH DELETE)
takes its references with it. A merged entity keeps its node (its slug still resolves) but
loses its edges to the entity it was merged into, and later mentions follow `merged_into`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from loci.stores.graph.base import PAGE_SIZE, QueryGroup
from loci.timeutil import iso, utcnow

_FIELDS = "e.id, e.slug, e.category, e.name, e.aliases, e.created_at, e.last_referenced_at, e.merged_into, refs"
_COUNTED = "OPTIONAL MATCH (e)-[r:REFERENCED_IN]->(:Memory) WITH e, count(r) AS refs"


@dataclass(frozen=True)
class EntityMention:
    """One entity a memory mentions, as enrichment found it."""

    category: str
    slug: str
    name: str

    @property
    def id(self) -> str:
        return f"entity:{self.category}:{self.slug}"


@dataclass(frozen=True)
class EntityRecord:
    """An Entity node with its reference count."""

    id: str
    slug: str
    category: str
    name: str
    aliases: tuple[str, ...]
    reference_count: int
    created_at: str | None
    last_referenced_at: str | None
    merged_into: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> EntityRecord:
        entity_id, slug, category, name, aliases, created, referenced, merged, refs = row
        return cls(
            id=entity_id,
            slug=slug or "",
            category=category or "",
            name=name or slug or "",
            aliases=_aliases(aliases),
            reference_count=int(refs or 0),
            created_at=created,
            last_referenced_at=referenced,
            merged_into=merged,
        )

    def to_api(self) -> dict[str, Any]:
        """AutoMem's entity shape; Loci synthesizes no identities, so those fields are null."""
        return {
            "id": self.id,
            "slug": self.slug,
            "category": self.category,
            "name": self.name,
            "aliases": list(self.aliases),
            "identity": None,
            "identity_version": None,
            "identity_updated_at": None,
            "identity_source_count": None,
            "reference_count": self.reference_count,
            "created_at": self.created_at,
            "last_referenced_at": self.last_referenced_at,
        }


def _aliases(raw: Any) -> tuple[str, ...]:
    """Aliases as stored: a list, or (in stores restored from some AutoMem versions) a JSON string."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return (raw,)
    return tuple(str(a) for a in raw) if isinstance(raw, list) else ()


@dataclass(frozen=True)
class MergeResult:
    canonical: str
    alias: str
    alias_slug: str
    edges_moved: int


class EntityQueries(QueryGroup):
    """Entity nodes, their REFERENCED_IN edges, merges, and memories that share an entity."""

    def replace_references(self, rows: Sequence[tuple[str, str, Sequence[EntityMention]]]) -> int:
        """Make (memory id, updated_at seen, mentions) rows the memories' whole set of references.

        One query for the batch: each memory's old REFERENCED_IN edges go, its entities are
        created if new, and each is linked (a merged entity's mention goes to the entity it
        was merged into). A memory edited since `updated_at` was read is left alone (its
        edit queued it for enrichment again). Returns the number of edges written.
        """
        if not rows:
            return 0
        result = self._query(
            "UNWIND $rows AS row MATCH (m:Memory {id: row.id}) WHERE m.updated_at = row.seen "
            "OPTIONAL MATCH (:Entity)-[old:REFERENCED_IN]->(m) DELETE old "
            "WITH DISTINCT m, row UNWIND row.entities AS x "
            "MERGE (e:Entity {id: x.id}) ON CREATE SET e.slug = x.slug, e.category = x.category, "
            "e.name = x.name, e.aliases = [], e.created_at = $now "
            "WITH m, e OPTIONAL MATCH (c:Entity {id: e.merged_into}) WITH m, coalesce(c, e) AS t "
            "MERGE (t)-[:REFERENCED_IN]->(m) SET t.last_referenced_at = $now RETURN count(*)",
            {
                "rows": [
                    {
                        "id": memory_id,
                        "seen": seen,
                        "entities": [
                            {"id": e.id, "slug": e.slug, "category": e.category, "name": e.name}
                            for e in dict.fromkeys(mentions)
                        ],
                    }
                    for memory_id, seen, mentions in rows
                ],
                "now": iso(utcnow()),
            },
        )
        return int(result[0][0]) if result else 0

    def listing(self, category: str | None, limit: int, offset: int) -> list[EntityRecord]:
        """Entities that are referenced and not merged, most referenced first (then by id)."""
        rows = self._query(
            "MATCH (e:Entity) WHERE e.merged_into IS NULL AND ($category IS NULL OR e.category = $category) "
            f"{_COUNTED} WHERE refs > 0 RETURN {_FIELDS} ORDER BY refs DESC, e.id SKIP $offset LIMIT $limit",
            {"category": category, "offset": offset, "limit": limit},
            read_only=True,
        )
        return [EntityRecord.from_row(row) for row in rows]

    def find(self, keys: Sequence[str], prefer_category: str | None = None) -> EntityRecord | None:
        """The entity (not merged) whose id, slug or alias is one of `keys` (aliases compared
        case-insensitively): by id or slug first, then by alias; among several, the one in
        `prefer_category`, then the most referenced."""
        keys = list(dict.fromkeys(keys))
        lowered = list(dict.fromkeys(k.lower() for k in keys))
        for condition in ("e.id IN $keys OR e.slug IN $keys", "any(a IN e.aliases WHERE toLower(a) IN $lowered)"):
            rows = self._query(
                f"MATCH (e:Entity) WHERE ({condition}) AND e.merged_into IS NULL {_COUNTED} "
                f"RETURN {_FIELDS} ORDER BY e.category = $category DESC, refs DESC, e.id LIMIT 1",
                {"keys": keys, "lowered": lowered, "category": prefer_category},
                read_only=True,
            )
            if rows:
                return EntityRecord.from_row(rows[0])
        return None

    def iter_active(self, page_size: int = PAGE_SIZE) -> Iterator[EntityRecord]:
        """Every entity not merged into another, with its reference count, paged by id."""
        after = ""
        while True:
            rows = self._query(
                f"MATCH (e:Entity) WHERE e.id > $after AND e.merged_into IS NULL {_COUNTED} "
                f"RETURN {_FIELDS} ORDER BY e.id LIMIT $limit",
                {"after": after, "limit": page_size},
                read_only=True,
            )
            yield from (EntityRecord.from_row(row) for row in rows)
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def merge(self, alias: EntityRecord, canonical: EntityRecord) -> MergeResult:
        """Merge `alias` into `canonical`: its name and slug (and its own aliases) join the
        canonical's aliases, it is marked `merged_into`, entities merged into it now point at
        the canonical, and its REFERENCED_IN edges move there. Marked first, so a mention
        enriched meanwhile already follows to the canonical."""
        own = {canonical.slug.lower(), canonical.name.lower()}
        aliases = list(canonical.aliases)
        for name in (alias.name, alias.slug, *alias.aliases):
            if name and name.lower() not in own and name not in aliases:
                aliases.append(name)
        self._query(
            "MATCH (a:Entity {id: $alias}), (c:Entity {id: $canonical}) "
            "SET a.merged_into = c.id, a.merged_at = $now, c.aliases = $aliases",
            {"alias": alias.id, "canonical": canonical.id, "aliases": aliases, "now": iso(utcnow())},
        )
        self._query(
            "MATCH (x:Entity) WHERE x.merged_into = $alias SET x.merged_into = $canonical",
            {"alias": alias.id, "canonical": canonical.id},
        )
        moved = self._query(
            "MATCH (c:Entity {id: $canonical}) MATCH (a:Entity {id: $alias})-[r:REFERENCED_IN]->(m:Memory) "
            "MERGE (c)-[:REFERENCED_IN]->(m) DELETE r RETURN count(m)",
            {"alias": alias.id, "canonical": canonical.id},
        )
        return MergeResult(canonical.id, alias.id, alias.slug, int(moved[0][0]) if moved else 0)

    def iter_entity_tags(self, page_size: int = PAGE_SIZE) -> Iterator[tuple[str, list[str], str | None]]:
        """(memory id, its `entity:` tags, its metadata JSON) for every memory with such a tag, paged by id."""
        after = ""
        while True:
            rows = self._query(
                "MATCH (m:Memory) WHERE m.id > $after "
                "WITH m, [t IN m.tags WHERE toLower(t) STARTS WITH 'entity:'] AS tags "
                "RETURN m.id, tags, CASE WHEN size(tags) > 0 THEN m.metadata END ORDER BY m.id LIMIT $limit",
                {"after": after, "limit": page_size},
                read_only=True,
            )
            yield from ((memory_id, list(tags), meta) for memory_id, tags, meta in rows if tags)
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def shared_entity_memories(
        self, seed_ids: Sequence[str], max_entities: int, per_entity: int
    ) -> list[tuple[str, str, str]]:
        """(seed id, entity id, memory id) for memories that share an entity with a seed.

        The seeds' entities (a merged one counts as the entity it was merged into) are ranked
        by how many seeds mention them, then by the order of the first seed that does; the
        first `max_entities` each bring their `per_entity` newest memories that are not seeds.
        Each memory appears once, under the first entity that reached it; the seed is the
        first seed (in the given order) mentioning that entity.
        """
        seeds = list(dict.fromkeys(seed_ids))
        if not seeds or max_entities <= 0 or per_entity <= 0:
            return []
        rows = self._query(
            "UNWIND $seeds AS sid MATCH (:Memory {id: sid})<-[:REFERENCED_IN]-(e:Entity) "
            "OPTIONAL MATCH (c:Entity {id: e.merged_into}) RETURN DISTINCT sid, coalesce(c, e).id",
            {"seeds": seeds},
            read_only=True,
        )
        position = {seed: n for n, seed in enumerate(seeds)}
        mentioned_by: dict[str, list[str]] = {}
        for seed, entity_id in rows:
            mentioned_by.setdefault(entity_id, []).append(seed)
        for mentioning in mentioned_by.values():
            mentioning.sort(key=position.__getitem__)
        chosen = sorted(mentioned_by, key=lambda e: (-len(mentioned_by[e]), position[mentioned_by[e][0]], e))
        chosen = chosen[:max_entities]
        if not chosen:
            return []
        linked = self._query(
            "UNWIND $entities AS eid MATCH (e:Entity {id: eid}) "
            "CALL { WITH e MATCH (e)-[:REFERENCED_IN]->(m:Memory) WHERE NOT m.id IN $seeds "
            "RETURN m ORDER BY m.timestamp_epoch DESC, m.id LIMIT $per } RETURN eid, m.id",
            {"entities": chosen, "seeds": seeds, "per": per_entity},
            read_only=True,
        )
        by_entity: dict[str, list[str]] = {}
        for entity_id, memory_id in linked:
            by_entity.setdefault(entity_id, []).append(memory_id)
        found: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for entity_id in chosen:
            for memory_id in by_entity.get(entity_id, []):
                if memory_id not in seen:
                    seen.add(memory_id)
                    found.append((mentioned_by[entity_id][0], entity_id, memory_id))
        return found
