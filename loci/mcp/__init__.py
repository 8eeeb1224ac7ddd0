"""The MCP server: AutoMem's bridge tools and Loci's own over the REST API, at /mcp (loci/api/mcp.py)
and on stdio (`python -m loci mcp`, loci/mcp/stdio.py). Set-up for each client: docs/mcp.md."""
