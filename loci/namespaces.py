"""Namespaces: whose memories a request reads and writes, and with what rights.

Every memory belongs to a namespace; each namespace is its own FalkorDB graph and its own
vector collection, so nothing one namespace holds can reach another's queries (and a
FalkorDB cluster spreads namespaces, being graphs, across its shards).

A request's namespace comes from its token. `LOCI_TOKENS_FILE` (JSON) maps tokens to a
namespace and a role:

    {"tokens": [
        {"token": "…", "namespace": "alice", "role": "write"},
        {"token": "…", "namespace": "support-bot", "role": "read"},
        {"token": "…", "role": "admin"}
    ]}

- `read`: reads only (GET, and the reads sent as POST: /recall, /memory/status, MCP).
- `write`: everything in its namespace but the admin routes.
- `admin`: everything, in any namespace, chosen per request with `X-Loci-Namespace`.
AUTOMEM_API_TOKEN is a `write` token of the `default` namespace and ADMIN_API_TOKEN
(sent as X-Admin-Token, as AutoMem's admin routes want) adds the admin role, so a plain
AutoMem set-up keeps working unchanged in `default`, whose graph and collection keep
their configured names (FALKORDB_GRAPH, QDRANT_COLLECTION).
"""

from __future__ import annotations

import hmac
import json
import re
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loci.config import Settings
from loci.errors import ConfigError

DEFAULT = "default"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
"""Lower-case letters, digits, `_` and `-`, up to 48 characters: safe in a graph name and a path."""
SEPARATOR = "__ns__"
"""Between the configured graph (or collection) name and a namespace's own name."""


class Role(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(name))


def graph_name(settings: Settings, namespace: str) -> str:
    """The FalkorDB graph holding a namespace's memories."""
    return settings.falkordb_graph if namespace == DEFAULT else f"{settings.falkordb_graph}{SEPARATOR}{namespace}"


def collection_name(settings: Settings, namespace: str) -> str:
    """The vector collection holding a namespace's vectors."""
    return settings.qdrant_collection if namespace == DEFAULT else f"{settings.qdrant_collection}{SEPARATOR}{namespace}"


def namespace_of_graph(settings: Settings, graph: str) -> str | None:
    """The namespace a graph name belongs to, or None for a graph that is not a namespace's."""
    if graph == settings.falkordb_graph:
        return DEFAULT
    prefix = f"{settings.falkordb_graph}{SEPARATOR}"
    name = graph[len(prefix) :] if graph.startswith(prefix) else ""
    return name if valid_name(name) else None


class Principal(BaseModel):
    """Who a request acts as: a namespace and a role."""

    model_config = ConfigDict(frozen=True)

    namespace: str = DEFAULT
    role: Role = Role.WRITE

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN


class TokenEntry(Principal):
    token: str = Field(min_length=1)

    @model_validator(mode="after")
    def _valid_namespace(self) -> TokenEntry:
        if not valid_name(self.namespace):
            raise ValueError(f"namespace {self.namespace!r} must match {NAME_PATTERN.pattern}")
        return self


class TokenFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tokens: list[TokenEntry]

    @model_validator(mode="after")
    def _unique(self) -> TokenFile:
        seen: set[str] = set()
        for entry in self.tokens:
            if entry.token in seen:
                raise ValueError("a token is listed twice")
            seen.add(entry.token)
        return self


class Tokens:
    """The tokens a service accepts and whom each stands for, compared in constant time."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._entries = [
            (entry.token.encode(), Principal(namespace=entry.namespace, role=entry.role)) for entry in entries
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> Tokens:
        entries: list[TokenEntry] = []
        if settings.api_token:
            entries.append(TokenEntry(token=settings.api_token, namespace=DEFAULT, role=Role.WRITE))
        if settings.tokens_file:
            entries += load_token_file(settings.tokens_file).tokens
        return cls(entries)

    @property
    def required(self) -> bool:
        """Whether requests must carry a token at all (no tokens: the API is open to this machine)."""
        return bool(self._entries)

    def principal(self, token: str | None) -> Principal | None:
        """Whom a token stands for, or None when it is not one of ours."""
        if not token:
            return None
        given = token.encode()
        found = None
        for expected, principal in self._entries:  # every entry is compared, so timing tells nothing
            if hmac.compare_digest(given, expected):
                found = principal
        return found


def load_token_file(path: Path) -> TokenFile:
    try:
        return TokenFile.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise ConfigError(f"LOCI_TOKENS_FILE {path} cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"LOCI_TOKENS_FILE {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"LOCI_TOKENS_FILE {path}: {problems}") from None
