"""Running a recall request: one query, or several (given, or `auto_decompose`d) merged into one answer.

`recall()` is what the API calls. Each query is one `Recall` (loci/recall/engine.py); with
several, each brings up to `per_query_limit` results, the best score per memory wins, and
the merged list is ranked, cut to `limit` and put through the adaptive floor once more.
"""

from __future__ import annotations

from datetime import datetime

from loci.recall.candidates import Candidate
from loci.recall.decompose import decompose
from loci.recall.engine import Recall
from loci.recall.params import RecallParams
from loci.recall.result import RecallResult
from loci.recall.sources import RecallSources


def recall(sources: RecallSources, params: RecallParams, now: datetime) -> RecallResult:
    """Run a recall; with `queries` (or `auto_decompose`), run one per query and merge them, best score per memory."""
    if params.auto_decompose and params.query and not params.queries and (narrower := decompose(params.query)):
        params = params.model_copy(update={"queries": [params.query, *narrower]})
    if not params.queries:
        return Recall(sources, params, now).run()
    each = {"queries": [], "limit": params.per_query_limit or params.limit}
    parts = [Recall(sources, params.model_copy(update={**each, "query": query}), now).run() for query in params.queries]
    best: dict[str, Candidate] = {}
    for part in parts:
        for candidate in part.candidates:
            if candidate.id not in best or candidate.score > best[candidate.id].score:
                best[candidate.id] = candidate
    merger = Recall(sources, params, now)
    ranked, removed = merger.select(list(best.values()))
    ranked, floor_cut = merger.floor(ranked)
    first = parts[0]
    return RecallResult(
        params=params,
        candidates=ranked,
        words=list(dict.fromkeys(word for part in parts for word in part.words)),
        where=first.where,
        sort=first.sort,
        vector_enabled=any(part.vector_enabled for part in parts),
        vector_matched=sum(1 for c in ranked if c.source == "qdrant"),
        degraded=list(dict.fromkeys(reason for part in parts for reason in part.degraded)),
        warnings=list(dict.fromkeys(warning for part in parts for warning in part.warnings)),
        suppressed=list(dict.fromkeys(i for part in parts for i in part.suppressed)),
        replacements=list(dict.fromkeys(pair for part in parts for pair in part.replacements)),
        seeds=sum(part.seeds for part in parts),
        relation_limit=first.relation_limit,
        expansion_limit=first.expansion_limit,
        expanded=sum(part.expanded for part in parts),
        included=sum(1 for c in ranked if c.match_type == "relation"),
        dedup_removed=removed + sum(part.dedup_removed for part in parts),
        relations={c.id: rel for part in parts for c in part.candidates if (rel := part.relations.get(c.id))},
        focus=merger.focus,
        injected=any(part.injected for part in parts),
        recency_bias=merger.recency_bias,
        floor_cut=floor_cut + sum(part.floor_cut for part in parts),
        min_score=merger.min_score,
        outside_scope=sum(1 for c in ranked if c.outside_tag_scope),
        entity_expanded=sum(part.entity_expanded for part in parts),
        entities_found=list(dict.fromkeys(e for part in parts for e in part.entities_found)),
    )
