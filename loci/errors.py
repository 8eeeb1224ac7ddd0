"""Loci's exceptions, one tree.

    LociError                      base; carries the HTTP status an API handler answers with
    ├── InvalidRequest     400     bad input; names the offending field
    ├── Unauthorized       401     missing or wrong token
    ├── Forbidden          403     admin route with no admin token configured
    ├── NotFound           404     a memory (or route) that does not exist
    ├── Conflict           409     the same maintenance task is already running
    ├── StoreUnavailable   503     FalkorDB or the vector store cannot be reached (answered with Retry-After)
    │   ├── GraphUnavailable
    │   ├── VectorStoreUnavailable
    │   └── StoreTimeout           a store did not answer within its deadline (stalled or overloaded)
    ├── StoreError         500     a store answered with an error (bad query, corrupt data)
    ├── InsufficientStorage 507    free disk space is below LOCI_MIN_FREE_BYTES, or the disk refused a write
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
    """`retry_after`: seconds a client should wait before trying again (the Retry-After header)."""

    status = 503

    def __init__(self, message: str, *, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GraphUnavailable(StoreUnavailable):
    pass


class VectorStoreUnavailable(StoreUnavailable):
    pass


class StoreTimeout(StoreUnavailable):
    """Unreachable or stalled look the same to a client: one status, 503. The write may have landed."""


class StoreError(LociError):
    status = 500


class InsufficientStorage(LociError):
    """A write refused for want of disk space: nothing of it was stored. Reads keep working."""

    status = 507


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
