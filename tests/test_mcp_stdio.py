"""`python -m loci mcp --url URL --token T` driven by the SDK's stdio client against the service under
gunicorn: the same tools as /mcp, calling the service over HTTP with the token; a wrong token makes
every call a tool error saying so (the protocol itself keeps working).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp_types import CallToolResult, TextContent
from service_process import ServiceProcess

pytestmark = pytest.mark.slow

TOKEN = "mcp-stdio-token"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("mcp-stdio")
    with ServiceProcess(root / "data", root / "service.log", {"AUTOMEM_API_TOKEN": TOKEN}) as svc:
        yield svc


def stdio(svc: ServiceProcess, token: str) -> StdioServerParameters:
    args = ["-m", "loci", "mcp", "--url", svc.base_url, "--token", token]
    return StdioServerParameters(command=sys.executable, args=args, cwd=ROOT)


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def test_stdio_tools_round_trip(service: ServiceProcess) -> None:
    async def main() -> dict[str, Any]:
        async with Client(stdio(service, TOKEN)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            stored = await client.call_tool("store_memory", {"content": "The staging database is called ferret."})
            memory_id = stored.structured_content["memory_id"]  # type: ignore[index]
            fetched = await client.call_tool("recall_memory", {"memory_id": memory_id})
            missing = await client.call_tool("get_memory", {"memory_id": "00000000-0000-4000-8000-000000000000"})
            bad = await client.call_tool("store_memory", {"content": "x", "importance": 7})
            health = await client.call_tool("check_database_health", {})
            return {"names": names, "fetched": fetched, "missing": missing, "bad": bad, "health": health}

    seen = anyio.run(main)
    assert {"store_memory", "recall_memory", "memory_status", "startup_context"} <= seen["names"]
    assert "The staging database is called ferret." in text(seen["fetched"])
    assert seen["missing"].is_error and "(HTTP 404)" in text(seen["missing"])
    assert seen["bad"].is_error and "importance" in text(seen["bad"])
    assert seen["health"].structured_content["status"] == "healthy"


def test_stdio_wrong_token_is_a_tool_error(service: ServiceProcess) -> None:
    async def main() -> CallToolResult:
        async with Client(stdio(service, "wrong-token")) as client:
            return await client.call_tool("recall_memory", {"query": "anything"})

    result = anyio.run(main)
    assert result.is_error and "Unauthorized (HTTP 401)" in text(result)
