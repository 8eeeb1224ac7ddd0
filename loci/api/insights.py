"""Overview routes: what an assistant should read at start-up, and analytics over all memories."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, jsonify

from loci.api.inputs import services

bp = Blueprint("insights", __name__)

LESSON_TAGS = ("critical", "lesson", "ai-assistant")
RULE_TAGS = ("system", "memory-recall")


@bp.get("/startup-recall")
def startup_recall() -> Any:
    svc = services()
    excluded = svc.settings.recall_excluded_types
    lessons = svc.graph.insights.memories_tagged(LESSON_TAGS, 10, excluded)
    rules = svc.graph.insights.memories_tagged(RULE_TAGS, 5, excluded)
    svc.access.record(m.id for m in [*lessons, *rules])
    return jsonify(
        {
            "status": "success",
            "critical_lessons": [
                {
                    "id": m.id,
                    "content": m.content,
                    "tags": m.tags,
                    "importance": m.importance,
                    "type": m.type,
                    "metadata": m.metadata,
                }
                for m in lessons
            ],
            "system_rules": [{"id": m.id, "content": m.content, "tags": m.tags} for m in rules],
            "lesson_count": len(lessons),
            "has_critical": any(m.importance >= 0.9 for m in lessons),
            "summary": f"{len(lessons)} lessons, {len(rules)} system rules",
        }
    )


@bp.get("/analyze")
def analyze() -> Any:
    started = time.perf_counter()
    svc = services()
    excluded = svc.settings.recall_excluded_types
    graph = svc.graph
    analytics = {
        "memory_types": graph.insights.type_stats(excluded),
        "patterns": graph.insights.strong_patterns(0.6, 10),
        "preferences": graph.insights.preferences(10),
        "temporal_insights": graph.insights.hour_histogram(excluded),
        "entity_frequency": graph.insights.entity_frequency(50),
        "confidence_distribution": graph.insights.confidence_distribution(excluded),
    }
    return jsonify(
        {"status": "success", "analytics": analytics, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}
    )
