"""Settings: the one place that reads the environment.

`Settings.from_env(os.environ)` builds a frozen settings object from a mapping of
environment variables, using AutoMem's variable names so existing deployments carry
over. Every other module receives `Settings` explicitly; tests build it directly
with keyword arguments (`Settings(falkordb_host="127.0.0.1", ...)`).

A value that does not parse, or falls outside its range, raises `ConfigError`
naming the environment variable, so start-up stops with a message an operator can act on.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loci.errors import ConfigError


class EmbeddingProviderName(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"
    PLACEHOLDER = "placeholder"


class LocalRuntime(StrEnum):
    """What runs the local model's transformer."""

    ONNX = "onnx"
    """ONNX Runtime on a graph exported from the installed weights (LOCI_DATA_DIR/models)."""
    TORCH = "torch"
    """sentence-transformers on torch, as loaded from the weights directly."""


class VectorStoreName(StrEnum):
    QDRANT = "qdrant"
    """Qdrant: embedded (qdrant-edge in LOCI_DATA_DIR) unless QDRANT_URL / QDRANT_HOST names a server."""
    FALKORDB = "falkordb"
    """FalkorDB's own vector index: the vector on the memory's node, in the graph's database."""


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class RecencyBias(StrEnum):
    """Recall's relative-recency re-rank: off, on, or on when the query asks for what is latest."""

    OFF = "off"
    ON = "on"
    AUTO = "auto"


class QueueBackend(StrEnum):
    AUTO = "auto"
    """Redis Streams on FalkorDB's server when it is external (FALKORDB_HOST), else in memory."""
    MEMORY = "memory"
    STREAMS = "streams"


class AppendFsync(StrEnum):
    """When the embedded FalkorDB fsyncs its append-only file (its `--appendfsync`)."""

    ALWAYS = "always"
    """Before answering each write: an acknowledged memory survives a machine crash."""
    EVERYSEC = "everysec"
    """Once a second: a process crash loses nothing acknowledged, a machine crash up to ~1 s."""


def env(*names: str, default: Any, **constraints: Any) -> Any:
    """A settings field read from the first of these environment variables that is set."""
    return Field(default, validation_alias=AliasChoices(*names), **constraints)


class Settings(BaseModel):
    """Everything Loci can be configured with. Field aliases are the environment names;
    the field names work too (`Settings(port=9000)`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # --- auth and serving
    api_token: str | None = env("AUTOMEM_API_TOKEN", default=None)
    admin_token: str | None = env("ADMIN_API_TOKEN", default=None)
    tokens_file: Path | None = env("LOCI_TOKENS_FILE", default=None)
    """A JSON file of tokens, each with a namespace and a role (loci/namespaces.py); AUTOMEM_API_TOKEN
    stays valid beside them, for the `default` namespace."""
    port: int = env("PORT", default=8001, ge=1, le=65535)
    max_request_bytes: int = env("LOCI_MAX_REQUEST_BYTES", default=16 * 1024 * 1024, ge=1024)
    max_request_line_bytes: int = env("LOCI_MAX_REQUEST_LINE_BYTES", default=64 * 1024, ge=1024, le=1024 * 1024)
    """A request line (method, path and query string) longer than this is answered 414: a 1,536-wide
    embedding in a GET query string is about 30 KB. Enforced by the worker's front (loci/serving/framing.py)."""
    data_dir: Path = env("LOCI_DATA_DIR", default=Path("./data"))
    min_free_bytes: int = env("LOCI_MIN_FREE_BYTES", default=256 * 1024 * 1024, ge=0)
    """Free space kept on the filesystems under LOCI_DATA_DIR: below it writes get 507 and background
    writers pause (loci/diskspace.py says why 256 MiB). 0 turns the check off."""
    log_level: str = env("LOG_LEVEL", default="INFO")
    log_format: LogFormat = env("LOCI_LOG_FORMAT", default=LogFormat.JSON)
    stream_keepalive_seconds: float = env("STREAM_KEEPALIVE_SECONDS", default=30.0, gt=0)
    stream_max_subscribers: int = env("STREAM_MAX_SUBSCRIBERS", default=8, ge=1, le=1000)
    header_timeout_seconds: float = env("LOCI_HEADER_TIMEOUT_SECONDS", default=10.0, gt=0, le=600)
    """A request's line and headers must arrive within this (408 otherwise); see loci/serving/worker.py."""
    body_timeout_seconds: float = env("LOCI_BODY_TIMEOUT_SECONDS", default=60.0, gt=0, le=3600)
    """Its body within this after the headers; also the longest a response waits on a client that does not read."""
    max_buffered_bytes: int = env("LOCI_MAX_BUFFERED_BYTES", default=256 * 1024 * 1024, ge=1024 * 1024)
    """Requests being received, all together, held in memory at most (503 beyond)."""

    # --- graph
    falkordb_host: str | None = env("FALKORDB_HOST", default=None)
    falkordb_port: int = env("FALKORDB_PORT", default=6379, ge=1, le=65535)
    falkordb_password: str | None = env("FALKORDB_PASSWORD", default=None)
    falkordb_graph: str = env("FALKORDB_GRAPH", default="memories", min_length=1)
    graph_timeout_seconds: float = env("LOCI_GRAPH_TIMEOUT_SECONDS", default=5.0, gt=0, le=300)
    """Deadline of every graph call: a stalled server is a 503 (with Retry-After) after this, well within a
    client's own timeout."""
    falkordb_appendfsync: AppendFsync = env("LOCI_FALKORDB_APPENDFSYNC", default=AppendFsync.ALWAYS)
    """The embedded server's fsync policy (docs/performance.md, Durability)."""
    queue_visibility_seconds: float = env("LOCI_QUEUE_VISIBILITY_SECONDS", default=60.0, gt=0, le=3600)
    """With FALKORDB_HOST set the work queues are Redis Streams on that server, shared by every process
    (loci/pipeline/streams.py): a memory taken by a process that stops heartbeating (it died) goes to
    another process this long after its last heartbeat; a live process heartbeats every third of it."""
    lease_ttl_seconds: float = env("LOCI_LEASE_TTL_SECONDS", default=30.0, gt=0, le=3600)
    """With FALKORDB_HOST set the scheduler's jobs run in the process holding a lease on that server
    (loci/lease.py), renewed every third of this; another process takes over this long after the holder died."""

    # --- vectors
    vector_store: VectorStoreName = env("VECTOR_STORE", default=VectorStoreName.QDRANT)
    falkordb_ef_runtime: int = env("LOCI_FALKORDB_EF_RUNTIME", default=40, ge=1, le=4096)
    """With VECTOR_STORE=falkordb: candidates the HNSW walk keeps per query (at least the limit asked
    for); higher finds more of the true nearest neighbours at a cost in latency (docs/performance.md)."""
    qdrant_url: str | None = env("QDRANT_URL", default=None)
    qdrant_host: str | None = env("QDRANT_HOST", default=None)
    qdrant_port: int = env("QDRANT_PORT", default=6333, ge=1, le=65535)
    qdrant_api_key: str | None = env("QDRANT_API_KEY", default=None)
    qdrant_collection: str = env("QDRANT_COLLECTION", default="memories", min_length=1)
    qdrant_timeout_seconds: float = env("QDRANT_TIMEOUT_SECONDS", default=10.0, gt=0)
    exact_vector_search: bool = env("LOCI_EXACT_VECTOR_SEARCH", default=False)
    """Compare the query with every vector instead of walking the HNSW index: exact nearest neighbours
    (the same answers whatever state the index is in, e.g. right after a restore) at a cost that grows
    with the store; for small stores and reproducible comparisons."""
    vector_size: int | None = env("VECTOR_SIZE", "QDRANT_VECTOR_SIZE", default=None, ge=1, le=65536)
    vector_size_autodetect: bool = env("VECTOR_SIZE_AUTODETECT", default=True)

    # --- embeddings
    embedding_provider: EmbeddingProviderName = env("EMBEDDING_PROVIDER", default=EmbeddingProviderName.LOCAL)
    embedding_model: str | None = env("EMBEDDING_MODEL", default=None)
    local_embedding_runtime: LocalRuntime = env("LOCAL_EMBEDDING_RUNTIME", default=LocalRuntime.TORCH)
    """torch by measurement: ONNX Runtime was not faster here (docs/performance.md, "The local model").
    onnx falls back to torch, with one log line, when the model cannot be exported."""
    local_embedding_threads: int = env("LOCAL_EMBEDDING_THREADS", default=0, ge=0, le=256)
    """ONNX Runtime's intra-op threads for the local model (0: one per core this process may use)."""
    local_embedding_cache_dir: Path | None = env("LOCAL_EMBEDDING_CACHE_DIR", default=None)
    """Where the exported ONNX graph is kept; None: LOCI_DATA_DIR/models. Processes may share one."""
    openai_api_key: str | None = env("OPENAI_API_KEY", default=None)
    openai_base_url: str | None = env("OPENAI_BASE_URL", default=None)
    embedding_timeout_seconds: float = env("EMBEDDING_TIMEOUT_SECONDS", default=30.0, gt=0)
    embedding_batch_size: int = env("EMBEDDING_BATCH_SIZE", default=64, ge=1, le=2048)
    embedding_concurrency: int = env("EMBEDDING_CONCURRENCY", default=4, ge=1, le=64)
    embedding_batch_timeout_seconds: float = env("EMBEDDING_BATCH_TIMEOUT_SECONDS", default=0.05, ge=0, le=60)
    embedding_max_attempts: int = env("EMBEDDING_MAX_ATTEMPTS", default=5, ge=1, le=100)
    embedding_retry_base_seconds: float = env("EMBEDDING_RETRY_BASE_SECONDS", default=1.0, gt=0)
    embedding_retry_max_seconds: float = env("EMBEDDING_RETRY_MAX_SECONDS", default=300.0, gt=0)
    worker_nice: int = env("LOCI_WORKER_NICE", "LOCI_EMBEDDING_NICE", default=10, ge=0, le=19)
    worker_yield_seconds: float = env("LOCI_WORKER_YIELD_SECONDS", default=0.25, ge=0, le=10)
    """Longest a worker holds a batch back while API requests are running (0: never)."""

    # --- enrichment
    enrichment_spacy_model: str = env("ENRICHMENT_SPACY_MODEL", default="en_core_web_sm")
    enrichment_batch_size: int = env("ENRICHMENT_BATCH_SIZE", default=64, ge=1, le=1024)
    enrichment_max_attempts: int = env("ENRICHMENT_MAX_ATTEMPTS", default=3, ge=1, le=100)
    enrichment_retry_base_seconds: float = env("ENRICHMENT_FAILURE_BACKOFF_SECONDS", default=5.0, gt=0)
    enrichment_retry_max_seconds: float = env("ENRICHMENT_RETRY_MAX_SECONDS", default=600.0, gt=0)
    enrichment_similarity_threshold: float = env("ENRICHMENT_SIMILARITY_THRESHOLD", default=0.8, ge=0, le=1)
    enrichment_similarity_limit: int = env("ENRICHMENT_SIMILARITY_LIMIT", default=5, ge=0, le=100)
    enrichment_temporal_window_days: float = env("ENRICHMENT_TEMPORAL_WINDOW_DAYS", default=7.0, gt=0)
    enrichment_temporal_limit: int = env("ENRICHMENT_TEMPORAL_LIMIT", default=5, ge=0, le=100)
    enrichment_enable_summaries: bool = env("ENRICHMENT_ENABLE_SUMMARIES", default=True)
    classification_model: str = env("CLASSIFICATION_MODEL", default="gpt-4o-mini")
    classification_base_url: str | None = env("CLASSIFICATION_BASE_URL", default=None)
    classification_api_key: str | None = env("CLASSIFICATION_API_KEY", default=None)
    classification_timeout_seconds: float = env("CLASSIFICATION_TIMEOUT_SECONDS", default=15.0, gt=0)
    enrichment_circuit_cooldown_seconds: float = env("ENRICHMENT_CIRCUIT_COOLDOWN_SECONDS", default=300.0, ge=0)

    # --- memory content
    memory_content_hard_limit: int = env("MEMORY_CONTENT_HARD_LIMIT", default=2000, ge=1)
    memory_content_soft_limit: int = env("MEMORY_CONTENT_SOFT_LIMIT", default=500, ge=1)
    """Longer content (up to the hard limit) is stored as a summary of at most this many characters, the
    original kept in metadata (loci/enrichment/summarize.py)."""
    memory_auto_summarize: bool = env("MEMORY_AUTO_SUMMARIZE", default=True)
    """False: content over the soft limit is stored as it is (up to the hard limit)."""
    memory_summary_target_length: int = env("MEMORY_SUMMARY_TARGET_LENGTH", default=300, ge=1)
    """The length the LLM is asked to summarize to (its answer is cut to the soft limit whatever it says)."""
    memory_summary_timeout_seconds: float = env("MEMORY_SUMMARY_TIMEOUT_SECONDS", default=5.0, gt=0, le=120)
    """Deadline of one LLM summary request (in the enrichment worker); past it the first-sentences summary stays."""
    memory_batch_limit: int = env("MEMORY_BATCH_LIMIT", default=500, ge=1, le=10000)
    idempotency_window_seconds: int = env("IDEMPOTENCY_WINDOW_SECONDS", default=60, ge=0, le=7 * 86400)

    # --- recall
    recall_max_limit: int = env("RECALL_MAX_LIMIT", default=100, ge=1, le=1000)
    recall_relation_limit: int = env("RECALL_RELATION_LIMIT", default=5, ge=1, le=200)
    recall_expansion_limit: int = env("RECALL_EXPANSION_LIMIT", default=25, ge=1, le=500)
    recall_vector_overfetch: int = env("RECALL_VECTOR_OVERFETCH", default=2, ge=1, le=50)
    recall_vector_fetch_cap: int = env("RECALL_VECTOR_FETCH_CAP", default=200, ge=1, le=5000)
    recall_min_score: float = env("RECALL_MIN_SCORE", default=0.0, ge=0, le=1)
    recall_recency_bias: RecencyBias = env("RECALL_RECENCY_BIAS", default=RecencyBias.OFF)
    recall_adaptive_floor: bool = env("RECALL_ADAPTIVE_FLOOR", default=False)
    """Cut the results at a large score gap (AutoMem's default is on; see docs/recall.md for why Loci's is off)."""
    recall_excluded_types: tuple[str, ...] = env("RECALL_EXCLUDED_TYPES", default=("MetaPattern",))
    search_weight_vector: float = env("SEARCH_WEIGHT_VECTOR", default=0.35, ge=0)
    search_weight_keyword: float = env("SEARCH_WEIGHT_KEYWORD", default=0.35, ge=0)
    search_weight_relation: float = env("SEARCH_WEIGHT_RELATION", default=0.25, ge=0)
    search_weight_tag: float = env("SEARCH_WEIGHT_TAG", default=0.2, ge=0)
    search_weight_exact: float = env("SEARCH_WEIGHT_EXACT", default=0.2, ge=0)
    search_weight_importance: float = env("SEARCH_WEIGHT_IMPORTANCE", default=0.1, ge=0)
    search_weight_recency: float = env("SEARCH_WEIGHT_RECENCY", default=0.1, ge=0)
    search_weight_confidence: float = env("SEARCH_WEIGHT_CONFIDENCE", default=0.05, ge=0)
    search_weight_context: float = env("SEARCH_WEIGHT_CONTEXT", default=0.3, ge=0)
    search_weight_temporal: float = env("SEARCH_WEIGHT_TEMPORAL", default=0.1, ge=0)
    search_recency_window_days: float = env("SEARCH_RECENCY_WINDOW_DAYS", default=180.0, gt=0)

    # --- consolidation (an interval of 0 disables the task)
    consolidation_decay_interval_seconds: float = env("CONSOLIDATION_DECAY_INTERVAL_SECONDS", default=86400, ge=0)
    consolidation_creative_interval_seconds: float = env(
        "CONSOLIDATION_CREATIVE_INTERVAL_SECONDS", default=604800, ge=0
    )
    consolidation_cluster_interval_seconds: float = env("CONSOLIDATION_CLUSTER_INTERVAL_SECONDS", default=2592000, ge=0)
    consolidation_forget_interval_seconds: float = env("CONSOLIDATION_FORGET_INTERVAL_SECONDS", default=0, ge=0)
    consolidation_startup_delay_seconds: float = env("CONSOLIDATION_STARTUP_DELAY_SECONDS", default=300, ge=0)
    consolidation_history_limit: int = env("CONSOLIDATION_HISTORY_LIMIT", default=20, ge=1, le=10000)
    consolidation_base_decay_rate: float = env("CONSOLIDATION_BASE_DECAY_RATE", default=0.01, ge=0)
    consolidation_importance_floor_factor: float = env("CONSOLIDATION_IMPORTANCE_FLOOR_FACTOR", default=0.3, ge=0, le=1)
    consolidation_decay_importance_threshold: float | None = env(
        "CONSOLIDATION_DECAY_IMPORTANCE_THRESHOLD", default=0.3, ge=0, le=1
    )
    consolidation_cluster_similarity_threshold: float = env(
        "CONSOLIDATION_CLUSTER_SIMILARITY_THRESHOLD", default=0.75, ge=0, le=1
    )
    consolidation_min_cluster_size: int = env("CONSOLIDATION_MIN_CLUSTER_SIZE", default=3, ge=2)
    consolidation_creative_sample_size: int = env("CONSOLIDATION_CREATIVE_SAMPLE_SIZE", default=30, ge=2, le=1000)
    consolidation_delete_threshold: float = env("CONSOLIDATION_DELETE_THRESHOLD", default=0.0, ge=0, le=1)
    consolidation_archive_threshold: float = env("CONSOLIDATION_ARCHIVE_THRESHOLD", default=0.0, ge=0, le=1)
    consolidation_grace_period_days: float = env("CONSOLIDATION_GRACE_PERIOD_DAYS", default=90, ge=0)
    consolidation_importance_protection_threshold: float = env(
        "CONSOLIDATION_IMPORTANCE_PROTECTION_THRESHOLD", default=0.7, ge=0, le=1
    )
    consolidation_protected_types: tuple[str, ...] = env(
        "CONSOLIDATION_PROTECTED_TYPES", default=("Decision", "Insight")
    )

    # --- the memory browser (/ui/, and /viewer/ for AutoMem's links)
    enable_graph_viewer: bool = env("ENABLE_GRAPH_VIEWER", default=True)
    """False: /ui/* and /viewer/* answer 404."""
    viewer_allowed_origins: tuple[str, ...] = env("VIEWER_ALLOWED_ORIGINS", default=())
    """Origins whose pages may call the API from a browser (comma-separated, `*` for any); none by default,
    so a page on another site can never read the memories of a service open to this machine (loci/api/cors.py)."""

    # --- sync between graph and vectors
    sync_check_interval_seconds: float = env("SYNC_CHECK_INTERVAL_SECONDS", default=3600, ge=0)
    sync_auto_repair: bool = env("SYNC_AUTO_REPAIR", default=True)

    @field_validator("recall_excluded_types", "consolidation_protected_types", "viewer_allowed_origins", mode="before")
    @classmethod
    def _split_types(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        level = str(value).upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="before")
    @classmethod
    def _resolve_auto_provider(cls, data: Any) -> Any:
        """EMBEDDING_PROVIDER=auto (AutoMem's default): openai when it is configured, else local."""
        if not isinstance(data, dict):
            return data
        for key in ("EMBEDDING_PROVIDER", "embedding_provider"):
            value = data.get(key)
            if isinstance(value, str):
                value = value.strip().lower()
                if value == "auto":
                    remote = any(
                        data.get(k) for k in ("OPENAI_API_KEY", "openai_api_key", "OPENAI_BASE_URL", "openai_base_url")
                    )
                    value = "openai" if remote else "local"
                data = {**data, key: value}
        return data

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from environment variables; empty values count as unset."""
        values = {key: value for key, value in environ.items() if value.strip() != ""}
        try:
            settings = cls.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else "?"
            raise ConfigError(f"Invalid {_env_name(field)}: {error['msg']}") from exc
        settings.check()
        return settings

    def check(self) -> None:
        """Reject combinations that cannot work, naming the variables involved."""
        if self.embedding_provider is EmbeddingProviderName.OPENAI and not (
            self.openai_api_key or self.openai_base_url
        ):
            raise ConfigError(
                "EMBEDDING_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a compatible server)"
            )
        if self.embedding_retry_max_seconds < self.embedding_retry_base_seconds:
            raise ConfigError("EMBEDDING_RETRY_MAX_SECONDS must be >= EMBEDDING_RETRY_BASE_SECONDS")
        if self.enrichment_retry_max_seconds < self.enrichment_retry_base_seconds:
            raise ConfigError("ENRICHMENT_RETRY_MAX_SECONDS must be >= ENRICHMENT_FAILURE_BACKOFF_SECONDS")
        if self.vector_store is VectorStoreName.FALKORDB and self.qdrant_location:
            raise ConfigError("VECTOR_STORE=falkordb keeps vectors in FalkorDB: unset QDRANT_URL / QDRANT_HOST")
        if 0 < self.consolidation_archive_threshold <= self.consolidation_delete_threshold:
            raise ConfigError("CONSOLIDATION_ARCHIVE_THRESHOLD must be above CONSOLIDATION_DELETE_THRESHOLD")

    # --- processes and their roles (docs/fleet.md)
    queue_backend: QueueBackend = env("LOCI_QUEUE", default=QueueBackend.AUTO)
    """Where the pipeline's work queues live: in this process's memory, or in Redis Streams on FalkorDB's server,
    shared by every process of a fleet (loci/pipeline/streams.py)."""
    run_workers: bool = env("LOCI_RUN_WORKERS", default=True)
    """False: this process serves the API only (`python -m loci serve --no-workers`)."""
    worker_stages: tuple[str, ...] = env("LOCI_WORKER_STAGES", default=("embedding", "enrichment"))
    """The pipeline stages this process works (`python -m loci worker --stages ...`)."""
    run_scheduler: bool = env("LOCI_RUN_SCHEDULER", default=True)
    """False: this process never runs scheduled jobs; with shared queues the fleet's processes take turns by lease."""
    web_processes: int = env("LOCI_WEB_PROCESSES", default=1, ge=1, le=64)
    """gunicorn worker processes; more than one needs external stores and shared queues."""

    @field_validator("worker_stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> Any:
        stages = tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value
        unknown = set(stages) - {"embedding", "enrichment"}
        if unknown:
            raise ValueError(f"unknown stages {sorted(unknown)}: the stages are embedding and enrichment")
        return stages

    # --- derived values
    @property
    def shared_queues(self) -> bool:
        """Whether the work queues are Redis Streams shared by a fleet of processes."""
        if self.queue_backend is QueueBackend.AUTO:
            return not self.embedded_falkordb
        return self.queue_backend is QueueBackend.STREAMS

    @property
    def embedded_falkordb(self) -> bool:
        """True when Loci starts its own FalkorDB server (FALKORDB_HOST unset)."""
        return not self.falkordb_host

    @property
    def qdrant_location(self) -> str | None:
        """URL of a Qdrant server (or ':memory:'), or None for embedded Qdrant."""
        if self.qdrant_url:
            return self.qdrant_url
        if self.qdrant_host:
            return f"http://{self.qdrant_host}:{self.qdrant_port}"
        return None

    @property
    def embedded_qdrant(self) -> bool:
        """True when vectors live in the embedded Qdrant under LOCI_DATA_DIR/qdrant."""
        return self.vector_store is VectorStoreName.QDRANT and self.qdrant_location is None

    @property
    def bind_host(self) -> str:
        """Without any token (AUTOMEM_API_TOKEN or LOCI_TOKENS_FILE) the service only listens on loopback."""
        return "0.0.0.0" if self.api_token or self.tokens_file else "127.0.0.1"


def _env_name(field: str) -> str:
    """The environment variable that feeds a settings field (its first alias)."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


UNSUPPORTED_AUTOMEM_VARIABLES = (
    "VOYAGE_API_KEY",
    "OLLAMA_BASE_URL",
    "OLLAMA_MODEL",
    "SEARCH_WEIGHT_METADATA",
    "SEARCH_WEIGHT_RELEVANCE",
    "SEARCH_WEIGHT_TEMPORAL",
    "RECALL_METADATA_SEARCH_ENABLED",
    "RECALL_ADAPTIVE_FLOOR",
    "RECALL_RELEVANCE_GATE",
    "RECALL_RECENCY_BIAS",
    "CONSOLIDATION_TICK_SECONDS",
    "JIT_ENRICHMENT_ENABLED",
)
"""AutoMem settings Loci does not act on; start-up names any that are set, so nobody relies on them unknowingly."""


def unsupported_variables(environ: Mapping[str, str]) -> list[str]:
    return [name for name in UNSUPPORTED_AUTOMEM_VARIABLES if environ.get(name, "").strip()]


def client_defaults(environ: Mapping[str, str]) -> dict[str, str | None]:
    """Defaults for command-line clients (the import CLI): where the service is, and its token.

    LOCI_URL, else http://localhost:$PORT; AUTOMEM_API_TOKEN (the service's own variable).
    """
    port = environ.get("PORT", "").strip() or "8001"
    return {
        "url": environ.get("LOCI_URL", "").strip() or f"http://localhost:{port}",
        "token": environ.get("AUTOMEM_API_TOKEN", "").strip() or None,
        "admin_token": environ.get("ADMIN_API_TOKEN", "").strip() or None,
    }
