"""`entity:<category>:<slug>` tags judged by the same quality rules as the extractor's names.

A memory's entities are what enrichment found plus the `entity:` tags it already carries (a
client's, or AutoMem's on a migrated store) that pass the rules; both become Entity nodes.
`judge` gives the verdict for one tag and `audit` reads a whole store's tags into the
report behind GET /entities/audit: accepted entities with their reference counts, rejected
tags with the reason, and counts by reason and category.

Reasons a tag is rejected:
    malformed         not `entity:<category>:<slug>`
    unknown_category  the category is neither Loci's nor AutoMem's
    not_a_slug        the slug is not lower-case ASCII words joined by "-"
    quality           the name fails the quality rules (status words, code, markdown, escapes, person shape)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loci.enrichment.entities import CATEGORIES, Entity, is_valid, slugify
from loci.stores.graph.entities import EntityMention

TAG_CATEGORIES = (*CATEGORIES, "opportunities")
"""Categories an `entity:` tag may name: Loci's, and AutoMem's (which has `opportunities`, not `places`)."""
REASONS = ("malformed", "unknown_category", "not_a_slug", "quality")


@dataclass(frozen=True)
class TagVerdict:
    tag: str
    category: str
    slug: str
    name: str
    reason: str | None
    """None when accepted."""

    @property
    def accepted(self) -> bool:
        return self.reason is None

    @property
    def entity_id(self) -> str:
        return f"entity:{self.category}:{self.slug}"


def names_by_category(metadata: Mapping[str, Any]) -> dict[str, list[str]]:
    """`metadata.entities` ({category: [names]}, as enrichment and AutoMem write it), tolerating anything else."""
    entities = metadata.get("entities")
    if not isinstance(entities, dict):
        return {}
    return {
        str(category): [n for n in names if isinstance(n, str)]
        for category, names in entities.items()
        if isinstance(names, list)
    }


def judge(tag: str, names: Mapping[str, Sequence[str]] | None = None) -> TagVerdict | None:
    """The verdict on one tag (None if it is not an `entity:` tag). The name checked is the one
    `names` (a memory's `metadata.entities`) gives for that slug, else the slug's words capitalised."""
    prefix, _, rest = tag.partition(":")
    if prefix.lower() != "entity":
        return None
    raw_category, _, raw_slug = rest.partition(":")
    category, slug = raw_category.strip().lower(), raw_slug.strip()
    if not category or not slug:
        return TagVerdict(tag, category, slug, slug, "malformed")
    canonical = slugify(slug)
    name = next(
        (n for n in (names or {}).get(category, ()) if slugify(n) == canonical),
        " ".join(word.capitalize() for word in canonical.split("-")),
    )
    if category not in TAG_CATEGORIES:
        return TagVerdict(tag, category, canonical or slug, name, "unknown_category")
    if not canonical or canonical != slug.lower():
        return TagVerdict(tag, category, slug, name, "not_a_slug")
    # the extractor's rules, by the category they were written for (AutoMem's `opportunities` as concepts)
    if not is_valid(name, category if category in CATEGORIES else "concepts"):
        return TagVerdict(tag, category, canonical, name, "quality")
    return TagVerdict(tag, category, canonical, name, None)


def mentions(found: Sequence[Entity], tags: Sequence[str], metadata: Mapping[str, Any]) -> list[EntityMention]:
    """A memory's entities: those enrichment found, then its other `entity:` tags that pass the rules."""
    result = {e.tag: EntityMention(e.category, e.slug, e.name) for e in found}
    names = names_by_category(metadata)
    for tag in tags:
        verdict = judge(tag, names)
        if verdict and verdict.accepted and verdict.entity_id not in result:
            result[verdict.entity_id] = EntityMention(verdict.category, verdict.slug, verdict.name)
    return list(result.values())


@dataclass
class _Accepted:
    id: str
    category: str
    slug: str
    name: str
    source_tags: set[str] = field(default_factory=set)
    memories: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "category": self.category,
            "slug": self.slug,
            "name": self.name,
            "source_tags": sorted(self.source_tags),
            "references": self.memories,
        }


@dataclass
class AuditReport:
    """Accepted entities (sorted by id) and rejected tags (in memory id order) of one page, with counts."""

    accepted: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    counts: dict[str, int]
    counts_by_reason: dict[str, int]
    counts_by_category: dict[str, dict[str, int]]


def audit(
    rows: Iterable[tuple[str, Sequence[str], str | None]],
    *,
    category: str | None = None,
    reason: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> AuditReport:
    """Judge every `entity:` tag of (memory id, tags, metadata JSON) rows, read once as they come.

    Accepted entities are gathered whole (one entry per entity); of the rejected tags only the
    requested page is kept, so a large store is audited in bounded memory. `category` and
    `reason` filter the lists (a `reason` leaves no accepted entities); counts_by_* and the
    `*_unfiltered` counts cover everything."""
    accepted: dict[str, _Accepted] = {}
    rejected_page: list[dict[str, Any]] = []
    rejected_matching = 0
    by_reason: Counter[str] = Counter()
    rejected_by_category: Counter[str] = Counter()
    for memory_id, tags, metadata_json in rows:
        names = names_by_category(_metadata(metadata_json))
        referenced: set[str] = set()
        for tag in dict.fromkeys(tags):
            verdict = judge(tag, names)
            if verdict is None:
                continue
            if verdict.accepted:
                entry = accepted.setdefault(
                    verdict.entity_id, _Accepted(verdict.entity_id, verdict.category, verdict.slug, verdict.name)
                )
                entry.source_tags.add(tag)
                if verdict.entity_id not in referenced:
                    referenced.add(verdict.entity_id)
                    entry.memories += 1
                continue
            by_reason[str(verdict.reason)] += 1
            rejected_by_category[verdict.category] += 1
            if (category and verdict.category != category) or (reason and verdict.reason != reason):
                continue
            if offset <= rejected_matching < offset + limit:
                rejected_page.append(
                    {
                        "tag": tag,
                        "memory_id": memory_id,
                        "category": verdict.category,
                        "slug": verdict.slug,
                        "reason": verdict.reason,
                    }
                )
            rejected_matching += 1
    accepted_by_category = Counter(entry.category for entry in accepted.values())
    matching = [] if reason else sorted((e for e in accepted.values() if not category or e.category == category),
                                        key=lambda e: e.id)  # fmt: skip
    return AuditReport(
        accepted=[entry.to_api() for entry in matching[offset : offset + limit]],
        rejected=rejected_page,
        counts={
            "accepted_entities": len(matching),
            "rejected_entities": rejected_matching,
            "accepted_total_unfiltered": len(accepted),
            "rejected_total_unfiltered": sum(by_reason.values()),
        },
        counts_by_reason=dict(sorted(by_reason.items())),
        counts_by_category={
            name: {"accepted": accepted_by_category[name], "rejected": rejected_by_category[name]}
            for name in sorted(set(accepted_by_category) | set(rejected_by_category))
        },
    )


def _metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
