"""Consolidation routes: run a task now (a dry run needs the API token, a real run the admin token too),
and see the schedule and history."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from loci.api.auth import check_admin
from loci.api.inputs import optional_json_object, services
from loci.schemas import Consolidate, parse

bp = Blueprint("consolidation", __name__)


@bp.post("/consolidate")
def consolidate() -> Any:
    svc = services()
    req = parse(Consolidate, optional_json_object())
    if not req.dry_run:
        check_admin(svc.settings)  # a real run changes and may delete memories
    result = svc.consolidator.run(req.mode, dry_run=req.dry_run)
    return jsonify({"status": "success" if result["success"] else "error", "consolidation": result})


@bp.get("/consolidate/status")
def status() -> Any:
    svc = services()
    return jsonify(
        {
            "status": "success",
            "scheduler_running": svc.scheduler.running,
            "next_runs": svc.scheduler.next_runs(),
            "intervals_seconds": svc.scheduler.intervals(),
            "history": svc.consolidator.history(svc.settings.consolidation_history_limit),
        }
    )
