"""Backup and restore routes: `GET /backup` streams the stores as a tar.gz (AutoMem's layout);
`POST /admin/restore` writes one page of a restore (`python -m loci restore`, `migrate`).

`/backup` takes the admin token alone, as AutoMem's does (its backup tools send no API
token); the restore route takes both tokens like every other admin route.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from loci.api.auth import admin_token_from_request, api_token_from_request, check_admin, require_admin
from loci.api.idempotency import idempotent
from loci.api.inputs import json_object, services
from loci.backup.apply import Restorer
from loci.backup.archive import BackupArchive, key_fingerprint, parse_include
from loci.namespaces import collection_name
from loci.schemas import RestorePage, parse

bp = Blueprint("backup", __name__)
log = logging.getLogger(__name__)


@bp.get("/backup", strict_slashes=False)
def backup() -> Response:
    """Stream a backup of the selected stores (`include`: falkordb, qdrant; default both)."""
    svc = services()
    check_admin(svc.settings)
    include = parse_include(request.args.get("include"))
    svc.graph.ping()  # the graph is read in every case: the vector member is checked against its snapshot
    if "qdrant" in include:
        svc.vectors.ping()
    archive = BackupArchive(
        svc.graph.backup,
        svc.graph.graph_name,
        svc.vectors,
        collection_name(svc.settings, svc.namespace),
        include,
        spool_dir=_spool_dir(svc.settings.data_dir),
    )
    archive.start()
    _audit_start(svc.namespace, include, archive.report.timestamp, archive.report.snapshot)
    response = Response(stream_with_context(archive.stream()), mimetype="application/gzip")
    response.headers["Content-Disposition"] = f'attachment; filename="{archive.filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _audit_start(namespace: str, include: tuple[str, ...], timestamp: str, snapshot: str) -> None:
    """The audit line at the start of a backup, with the admin key's fingerprint (as AutoMem logs it)."""
    log.info(
        "backup started",
        extra={
            "event": "backup.started",
            "namespace": namespace,
            "include": list(include),
            "timestamp": timestamp,
            "snapshot": snapshot,
            "key_fingerprint": key_fingerprint(admin_token_from_request() or api_token_from_request()),
            "remote_addr": request.remote_addr,
        },
    )


def _spool_dir(data_dir: Path) -> Path | None:
    """Members are spooled beside the data (the system's temp dir may be a small tmpfs)."""
    return data_dir if data_dir.is_dir() else None


@bp.post("/admin/restore")
@require_admin
def restore() -> Any:
    """Write one page of a restore: memories with their ids (and vectors), side nodes, edges."""
    svc = services()

    def handle() -> tuple[dict[str, Any], int]:
        page = parse(RestorePage, json_object())
        restorer = Restorer(
            svc.graph.backup, svc.graph.memories.count, svc.vectors, svc.embedding_queue, svc.enrichment_queue
        )
        return restorer.apply(page).body(), 200

    return idempotent(handle)
