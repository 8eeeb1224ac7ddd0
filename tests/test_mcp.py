"""/mcp end to end: the SDK's own client over real HTTP against the service under gunicorn, with a token.

Initialize (both the initialize handshake and the SDK's default negotiation), the tool list and its
schemas, every tool with typical and bad arguments (bad ones are tool errors naming the reason),
store then recall, a batch then memory_status until completed, link/update/delete, the memory
resource and the startup prompt, and auth refused without the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import jsonschema
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult, TextContent
from service_process import ServiceProcess

pytestmark = pytest.mark.slow

TOKEN = "mcp-test-token"
TOOLS = {
    "store_memory", "recall_memory", "associate_memories", "update_memory", "delete_memory",
    "check_database_health", "memory_status", "get_memory", "related_memories", "startup_context",
}  # fmt: skip


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("mcp")
    with ServiceProcess(root / "data", root / "service.log", {"AUTOMEM_API_TOKEN": TOKEN}) as svc:
        yield svc


@asynccontextmanager
async def connected(svc: ServiceProcess, token: str | None = TOKEN, mode: str = "auto") -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http:
        transport = streamable_http_client(f"{svc.base_url}/mcp", http_client=http)
        async with Client(transport, mode=mode) as client:  # type: ignore[arg-type]
            yield client


def run(svc: ServiceProcess, body: Callable[[Client], Awaitable[Any]], **options: Any) -> Any:
    async def main() -> Any:
        async with connected(svc, **options) as client:
            return await body(client)

    return anyio.run(main)


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def call(svc: ServiceProcess, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    result: CallToolResult = run(svc, lambda client: client.call_tool(tool, arguments))
    return result


def ok(svc: ServiceProcess, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = call(svc, tool, arguments)
    assert not result.is_error, text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_initialize_and_tool_schemas(service: ServiceProcess, mode: str) -> None:
    async def body(client: Client) -> Any:
        return client.server_info, (await client.list_tools()).tools

    info, tools = run(service, body, mode=mode)
    assert info is not None and info.name == "loci"
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        jsonschema.Draft202012Validator.check_schema(tool.input_schema)
        assert tool.description and "When to use" in tool.description, tool.name
    schemas = {tool.name: tool.input_schema["properties"] for tool in tools}
    assert schemas["store_memory"]["importance"]["anyOf"][0] == {"maximum": 1, "minimum": 0, "type": "number"}
    assert schemas["recall_memory"]["format"]["enum"] == ["text", "items", "detailed", "json"]
    assert schemas["recall_memory"]["limit"]["default"] == 5
    assert "EVOLVED_INTO" in schemas["associate_memories"]["type"]["anyOf"][0]["enum"]


def test_refused_without_the_token(service: ServiceProcess) -> None:
    request = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        answer = httpx.post(f"{service.base_url}/mcp", json=request, headers=accept | headers)
        assert answer.status_code == 401
        assert answer.json()["message"] == "Unauthorized"
    for method in ("GET", "DELETE"):  # stateless: no server-to-client stream to hold a thread, no session
        answer = httpx.request(method, f"{service.base_url}/mcp", headers=accept | {"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 405
    plain = {"Content-Type": "text/plain", "Authorization": f"Bearer {TOKEN}"}
    answer = httpx.post(f"{service.base_url}/mcp", content=b"{}", headers=accept | plain)
    assert answer.status_code == 400  # the SDK's own plain-text refusal, in the API's envelope
    assert answer.json() == {"status": "error", "code": 400, "message": "Invalid Content-Type header"}
    with pytest.raises(BaseExceptionGroup):  # the SDK client cannot even connect
        run(service, lambda client: client.list_tools(), token=None)


def test_store_then_recall(service: ServiceProcess) -> None:
    stored = ok(service, "store_memory", {"content": "We picked PostgreSQL for the invoices service.",
                                          "tags": ["project-mcp"], "importance": 0.8})  # fmt: skip
    memory_id = stored["memory_id"]
    wait_completed(service, [memory_id])
    result = call(service, "recall_memory", {"query": "Which database holds invoices?", "tags": ["project-mcp"]})
    assert not result.is_error, text(result)
    assert f"ID: {memory_id}" in text(result) and text(result).startswith("Found 1 memories")
    assert result.structured_content["results"][0]["memory_id"] == memory_id  # type: ignore[index]
    for fmt in ("items", "detailed", "json"):
        shaped = call(service, "recall_memory", {"query": "invoices database", "tags": ["project-mcp"], "format": fmt})
        assert memory_id in text(shaped), fmt
    by_id = ok(service, "recall_memory", {"memory_id": memory_id})
    assert by_id["mode"] == "id_fetch" and by_id["results"][0]["content"].startswith("We picked PostgreSQL")
    listed = ok(service, "recall_memory", {"tags": ["project-mcp"], "exhaustive": True})
    assert listed["mode"] == "enumeration" and [r["memory_id"] for r in listed["results"]] == [memory_id]


def wait_completed(svc: ServiceProcess, ids: list[str], timeout: float = 120.0) -> None:
    async def poll(client: Client) -> None:
        with anyio.fail_after(timeout):
            while True:
                result = await client.call_tool("memory_status", {"ids": ids})
                assert not result.is_error, text(result)
                if set(result.structured_content["completed_ids"]) == set(ids):  # type: ignore[index]
                    return
                assert not result.structured_content["failed_ids"], text(result)  # type: ignore[index]
                await anyio.sleep(0.2)  # the poll interval, not a wait for state: the loop polls with a deadline

    run(svc, poll)


def test_batch_store_then_status(service: ServiceProcess) -> None:
    items = [{"content": f"Batch fact number {n} about the release train.", "tags": ["batch-mcp"]} for n in range(3)]
    stored = ok(service, "store_memory", {"memories": items})
    assert stored["stored"] == 3 and len(stored["memory_ids"]) == 3
    wait_completed(service, stored["memory_ids"])


def test_link_update_walk_delete(service: ServiceProcess) -> None:
    old = ok(service, "store_memory", {"content": "Deploys run by hand from a laptop.", "tags": ["ops-mcp"]})
    new = ok(service, "store_memory", {"content": "Deploys run from CI on every merge.", "tags": ["ops-mcp"]})
    link = {"memory1_id": old["memory_id"], "memory2_id": new["memory_id"], "type": "EVOLVED_INTO", "strength": 0.9}
    assert ok(service, "associate_memories", link)["success"] is True
    related = ok(service, "related_memories", {"memory_id": old["memory_id"]})
    assert [m["id"] for m in related["related_memories"]] == [new["memory_id"]]
    ok(service, "update_memory", {"memory_id": new["memory_id"], "importance": 0.95, "tags": ["ops-mcp", "ci"]})
    memory = ok(service, "get_memory", {"memory_id": new["memory_id"]})["memory"]
    own_tags = [tag for tag in memory["tags"] if not tag.startswith("entity:")]  # enrichment may add entity:...:ci
    assert memory["importance"] == 0.95 and own_tags == ["ops-mcp", "ci"]
    assert ok(service, "delete_memory", {"memory_id": old["memory_id"]})["memory_id"] == old["memory_id"]
    assert call(service, "get_memory", {"memory_id": old["memory_id"]}).is_error
    assert ok(service, "delete_memory", {"tags": ["ops-mcp"]})["deleted_count"] == 1


def test_health_startup_resource_prompt(service: ServiceProcess) -> None:
    health = ok(service, "check_database_health", {})
    assert health["status"] == "healthy" and health["backend"] == "loci"
    lesson = ok(service, "store_memory", {"content": "Always run the tests before pushing.", "tags": ["lesson"]})
    startup = call(service, "startup_context", {})
    assert "Always run the tests before pushing." in text(startup)

    async def body(client: Client) -> Any:
        resource = await client.read_resource(f"memory://{lesson['memory_id']}")
        prompt = await client.get_prompt("startup_context")
        return resource, prompt

    resource, prompt = run(service, body)
    assert "Always run the tests before pushing." in resource.contents[0].text
    assert "Always run the tests before pushing." in prompt.messages[0].content.text


MISSING = "00000000-0000-4000-8000-000000000000"
BAD_CALLS = [
    ("store_memory", {}, "either `content`"),
    ("store_memory", {"content": "x", "importance": 2}, "importance"),
    ("store_memory", {"content": "x", "type": "Rumour"}, "type"),
    ("store_memory", {"content": "   "}, "content"),
    ("recall_memory", {"query": "x", "format": "xml"}, "format"),
    ("recall_memory", {"query": "x", "limit": 0}, "limit"),
    ("recall_memory", {"exhaustive": True}, "give at least one tag"),
    ("recall_memory", {"memory_id": MISSING}, "(HTTP 404)"),
    ("recall_memory", {"query": "x", "start": "not-a-date"}, "start"),
    ("associate_memories", {"memory1_id": MISSING, "memory2_id": MISSING, "type": "RELATES_TO"}, "must differ"),
    ("associate_memories", {"memory1_id": "a", "memory2_id": "b", "type": "SIMILAR_TO"}, "type"),
    ("update_memory", {"memory_id": MISSING, "importance": 0.5}, "(HTTP 404)"),
    ("update_memory", {"memory_id": MISSING}, "Nothing to update"),
    ("delete_memory", {}, "either `memory_id` or `tags`"),
    ("delete_memory", {"memory_id": "not-an-id"}, "(HTTP 400)"),
    ("memory_status", {"ids": []}, "ids"),
    ("get_memory", {"memory_id": MISSING}, "(HTTP 404)"),
    ("related_memories", {"memory_id": MISSING, "max_depth": 9}, "max_depth"),
]


@pytest.mark.parametrize(
    ("tool", "arguments", "reason"), BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)]
)
def test_bad_arguments_are_tool_errors(
    service: ServiceProcess, tool: str, arguments: dict[str, Any], reason: str
) -> None:
    result = call(service, tool, arguments)
    assert result.is_error, text(result)
    assert reason in text(result)
