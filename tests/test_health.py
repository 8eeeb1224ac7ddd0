"""GET /health: counts, embedding states, sync status, the worker and provider in use."""

from __future__ import annotations

from flask.testing import FlaskClient

from loci import __version__
from loci.services import Services


def test_health_reports_the_pipeline(client: FlaskClient, services: Services) -> None:
    for n in range(3):
        client.post("/memory", json={"content": f"note {n}"})
    body = client.get("/health").json
    assert body["status"] == "degraded"  # the fixture app does not start its worker thread
    assert body["version"] == __version__ and body["falkordb"] == "connected" and body["qdrant"] == "connected"
    assert body["memory_count"] == 3 and body["vector_count"] == 0
    assert body["embedding"]["memories"] == {"pending": 3, "completed": 0, "failed": 0}
    assert body["embedding"]["pending"] == 3 and body["embedding"]["status"] == "stopped"
    assert body["embedding"]["provider"] == "local" and body["embedding"]["dimension"] == 384
    assert body["sync_status"] == "synced"  # nothing completed, nothing stored: in step

    services.embedding_worker.drain()
    body = client.get("/health").json
    assert body["embedding"]["memories"]["completed"] == 3 and body["vector_count"] == 3
    assert body["embedding"]["processed"] == 3 and body["sync_status"] == "synced"
    assert body["vector_dimensions"] == {"configured": 384, "effective": 384, "collection": 384, "mismatch": False}

    services.vectors.delete([next(services.graph.memories.iter_ids())])
    assert client.get("/health").json["sync_status"] == "drift_detected"
