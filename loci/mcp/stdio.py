"""`python -m loci mcp --url URL --token T`: the same MCP server on stdio, for clients that only speak
stdio, calling a running Loci over HTTP with the token (`LociApi.over_http`).

stdout carries the protocol alone: nothing else may write to it (logs go to stderr).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from mcp.server.mcpserver import Context

from loci.mcp.api import LociApi
from loci.mcp.tools import build_server

log = logging.getLogger(__name__)


def add_command(commands: Any, defaults: dict[str, str | None]) -> None:
    mcp = commands.add_parser(
        "mcp",
        help="serve Loci's MCP tools on stdio, against a running service",
        description="Run the MCP server on stdin/stdout for clients that only speak stdio; every tool calls "
        "the service at --url with --token. Clients that speak streamable HTTP connect to URL/mcp instead.",
    )
    mcp.add_argument("--url", default=defaults["url"], help="the service (default: LOCI_URL or %(default)s)")
    mcp.add_argument("--token", default=defaults["token"], help="API token (default: AUTOMEM_API_TOKEN)")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    url, token = str(args.url), args.token

    def connect(_: Context) -> LociApi:
        return LociApi.over_http(url, token)

    log.info("mcp stdio server starting", extra={"event": "mcp.stdio", "url": url})
    build_server(connect).run("stdio")
    return 0
