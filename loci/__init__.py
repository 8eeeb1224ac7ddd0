"""Loci: a self-hosted long-term memory service for AI assistants (AutoMem-compatible API)."""

__version__ = "0.1.0"
