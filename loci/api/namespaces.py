"""Admin routes over namespaces (loci/namespaces.py): list them, drop one.

A namespace's backup is GET /backup with `X-Loci-Namespace`, like any other route acting
in a namespace; every other route acts in its request's namespace already.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from loci.api.auth import require_admin
from loci.api.inputs import runtime
from loci.errors import InvalidRequest
from loci.namespaces import DEFAULT, NAME_PATTERN, graph_name, valid_name

bp = Blueprint("namespaces", __name__)


@bp.get("/admin/namespaces")
@require_admin
def listing() -> Any:
    """Every namespace, with its graph and how many memories it holds."""
    rt = runtime()
    found = []
    for name in rt.names():
        found.append(
            {
                "namespace": name,
                "graph": graph_name(rt.settings, name),
                "memories": rt.memory_count(name),
                "default": name == DEFAULT,
            }
        )
    return jsonify({"status": "success", "count": len(found), "namespaces": found})


@bp.delete("/admin/namespaces/<name>")
@require_admin
def drop(name: str) -> Any:
    """Delete a namespace: its graph (memories, edges, entities) and its vectors. Not `default`."""
    if not valid_name(name):
        raise InvalidRequest(f"namespace must match {NAME_PATTERN.pattern}", field="name")
    if name == DEFAULT:
        raise InvalidRequest("the default namespace cannot be dropped", field="name")
    dropped = runtime().drop(name)
    return jsonify({"status": "success", "namespace": dropped["namespace"], "deleted_memories": dropped["memories"]})
