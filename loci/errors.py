"""Loci's exceptions, one tree.

    LociError                      base; carries the HTTP status an API handler answers with
    ├── InvalidRequest     400     bad input; names the offending field
    ├── Unauthorized       401     missing or wrong token
    ├── Forbidden          403     admin route with no admin token configured
    ├── NotFound           404     a memory (or route) that does not exist
    ├── Conflict           409     the same maintenance task is already running
    ├── StoreUnavailable   503     FalkorDB or the vector store cannot be reached
    │   ├── GraphUnavailable
    │   └── VectorStoreUnavailable
    ├── StoreError         500     a store answered with an error (bad query, corrupt data)
    ├── StoreTimeout       504     a store took too long to answer
    ├── EmbeddingError     502     the embedding provider failed or returned bad vectors
    └── ConfigError        500     settings that cannot work; stops start-up

One Flask handler (`loci.api.errors`) renders every one of them as AutoMem's envelope
`{"status": "error", "code": N, "message": ...}`.
"""

from __future__ import annotations


class LociError(Exception):
    """Base class; `status` is the HTTP code the API answers with."""

    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidRequest(LociError):
    status = 400


class Unauthorized(LociError):
    status = 401


class Forbidden(LociError):
    status = 403


class NotFound(LociError):
    status = 404


class Conflict(LociError):
    status = 409


class StoreUnavailable(LociError):
    status = 503


class GraphUnavailable(StoreUnavailable):
    pass


class VectorStoreUnavailable(StoreUnavailable):
    pass


class StoreError(LociError):
    status = 500


class StoreTimeout(LociError):
    status = 504


class EmbeddingError(LociError):
    """The provider failed. `retry_after` is the server's hint in seconds, if it gave one;
    `transient` says the whole service had trouble (rate limit, 5xx, network), not one input."""

    status = 502

    def __init__(self, message: str, *, retry_after: float | None = None, transient: bool = True) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.transient = transient


class ConfigError(LociError):
    pass
