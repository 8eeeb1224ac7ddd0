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


class LogFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


def _env(*names: str) -> Any:
    """Field alias: the first of these environment variable names that is set wins."""
    return AliasChoices(*names)


class Settings(BaseModel):
    """Everything Loci can be configured with. Field aliases are the environment names."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    # --- auth and serving
    api_token: str | None = Field(None, validation_alias=_env("AUTOMEM_API_TOKEN", "api_token"))
    admin_token: str | None = Field(None, validation_alias=_env("ADMIN_API_TOKEN", "admin_token"))
    port: int = Field(8001, ge=1, le=65535, validation_alias=_env("PORT", "port"))
    max_request_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, validation_alias=_env("LOCI_MAX_REQUEST_BYTES", "max_request_bytes")
    )
    data_dir: Path = Field(Path("./data"), validation_alias=_env("LOCI_DATA_DIR", "data_dir"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL", "log_level"))
    log_format: LogFormat = Field(LogFormat.JSON, validation_alias=_env("LOCI_LOG_FORMAT", "log_format"))

    # --- graph
    falkordb_host: str | None = Field(None, validation_alias=_env("FALKORDB_HOST", "falkordb_host"))
    falkordb_port: int = Field(6379, ge=1, le=65535, validation_alias=_env("FALKORDB_PORT", "falkordb_port"))
    falkordb_password: str | None = Field(None, validation_alias=_env("FALKORDB_PASSWORD", "falkordb_password"))
    falkordb_graph: str = Field("memories", min_length=1, validation_alias=_env("FALKORDB_GRAPH", "falkordb_graph"))

    # --- vectors
    qdrant_url: str | None = Field(None, validation_alias=_env("QDRANT_URL", "qdrant_url"))
    qdrant_host: str | None = Field(None, validation_alias=_env("QDRANT_HOST", "qdrant_host"))
    qdrant_port: int = Field(6333, ge=1, le=65535, validation_alias=_env("QDRANT_PORT", "qdrant_port"))
    qdrant_api_key: str | None = Field(None, validation_alias=_env("QDRANT_API_KEY", "qdrant_api_key"))
    qdrant_collection: str = Field(
        "memories", min_length=1, validation_alias=_env("QDRANT_COLLECTION", "qdrant_collection")
    )
    qdrant_timeout_seconds: float = Field(
        10.0, gt=0, validation_alias=_env("QDRANT_TIMEOUT_SECONDS", "qdrant_timeout_seconds")
    )
    vector_size: int | None = Field(
        None, ge=1, le=65536, validation_alias=_env("VECTOR_SIZE", "QDRANT_VECTOR_SIZE", "vector_size")
    )
    vector_size_autodetect: bool = Field(
        True, validation_alias=_env("VECTOR_SIZE_AUTODETECT", "vector_size_autodetect")
    )

    # --- embeddings
    embedding_provider: EmbeddingProviderName = Field(
        EmbeddingProviderName.LOCAL, validation_alias=_env("EMBEDDING_PROVIDER", "embedding_provider")
    )
    embedding_model: str | None = Field(None, validation_alias=_env("EMBEDDING_MODEL", "embedding_model"))
    openai_api_key: str | None = Field(None, validation_alias=_env("OPENAI_API_KEY", "openai_api_key"))
    openai_base_url: str | None = Field(None, validation_alias=_env("OPENAI_BASE_URL", "openai_base_url"))
    embedding_timeout_seconds: float = Field(
        30.0, gt=0, validation_alias=_env("EMBEDDING_TIMEOUT_SECONDS", "embedding_timeout_seconds")
    )
    embedding_batch_size: int = Field(
        64, ge=1, le=2048, validation_alias=_env("EMBEDDING_BATCH_SIZE", "embedding_batch_size")
    )
    embedding_batch_timeout_seconds: float = Field(
        0.05,
        ge=0,
        le=60,
        validation_alias=_env("EMBEDDING_BATCH_TIMEOUT_SECONDS", "embedding_batch_timeout_seconds"),
    )
    embedding_max_attempts: int = Field(
        5, ge=1, le=100, validation_alias=_env("EMBEDDING_MAX_ATTEMPTS", "embedding_max_attempts")
    )
    embedding_retry_base_seconds: float = Field(
        1.0, gt=0, validation_alias=_env("EMBEDDING_RETRY_BASE_SECONDS", "embedding_retry_base_seconds")
    )
    embedding_worker_nice: int = Field(
        10, ge=0, le=19, validation_alias=_env("LOCI_EMBEDDING_NICE", "embedding_worker_nice")
    )
    embedding_retry_max_seconds: float = Field(
        300.0, gt=0, validation_alias=_env("EMBEDDING_RETRY_MAX_SECONDS", "embedding_retry_max_seconds")
    )

    # --- memory content
    memory_content_hard_limit: int = Field(
        2000, ge=1, validation_alias=_env("MEMORY_CONTENT_HARD_LIMIT", "memory_content_hard_limit")
    )

    # --- recall
    recall_max_limit: int = Field(100, ge=1, le=1000, validation_alias=_env("RECALL_MAX_LIMIT", "recall_max_limit"))
    recall_relation_limit: int = Field(
        5, ge=1, le=200, validation_alias=_env("RECALL_RELATION_LIMIT", "recall_relation_limit")
    )
    recall_expansion_limit: int = Field(
        25, ge=1, le=500, validation_alias=_env("RECALL_EXPANSION_LIMIT", "recall_expansion_limit")
    )
    recall_vector_overfetch: int = Field(
        4, ge=1, le=50, validation_alias=_env("RECALL_VECTOR_OVERFETCH", "recall_vector_overfetch")
    )
    recall_vector_fetch_cap: int = Field(
        200, ge=1, le=5000, validation_alias=_env("RECALL_VECTOR_FETCH_CAP", "recall_vector_fetch_cap")
    )
    recall_min_score: float = Field(0.0, ge=0, le=1, validation_alias=_env("RECALL_MIN_SCORE", "recall_min_score"))
    recall_excluded_types: tuple[str, ...] = Field(
        ("MetaPattern",), validation_alias=_env("RECALL_EXCLUDED_TYPES", "recall_excluded_types")
    )
    search_weight_vector: float = Field(
        0.35, ge=0, validation_alias=_env("SEARCH_WEIGHT_VECTOR", "search_weight_vector")
    )
    search_weight_keyword: float = Field(
        0.35, ge=0, validation_alias=_env("SEARCH_WEIGHT_KEYWORD", "search_weight_keyword")
    )
    search_weight_relation: float = Field(
        0.25, ge=0, validation_alias=_env("SEARCH_WEIGHT_RELATION", "search_weight_relation")
    )
    search_weight_tag: float = Field(0.2, ge=0, validation_alias=_env("SEARCH_WEIGHT_TAG", "search_weight_tag"))
    search_weight_exact: float = Field(0.2, ge=0, validation_alias=_env("SEARCH_WEIGHT_EXACT", "search_weight_exact"))
    search_weight_importance: float = Field(
        0.1, ge=0, validation_alias=_env("SEARCH_WEIGHT_IMPORTANCE", "search_weight_importance")
    )
    search_weight_recency: float = Field(
        0.1, ge=0, validation_alias=_env("SEARCH_WEIGHT_RECENCY", "search_weight_recency")
    )
    search_weight_confidence: float = Field(
        0.05, ge=0, validation_alias=_env("SEARCH_WEIGHT_CONFIDENCE", "search_weight_confidence")
    )
    search_recency_window_days: float = Field(
        180.0, gt=0, validation_alias=_env("SEARCH_RECENCY_WINDOW_DAYS", "search_recency_window_days")
    )

    @field_validator("recall_excluded_types", mode="before")
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

    # --- derived values
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
    def bind_host(self) -> str:
        """Without an API token the service only listens on loopback."""
        return "0.0.0.0" if self.api_token else "127.0.0.1"


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
    "MEMORY_AUTO_SUMMARIZE",
    "MEMORY_CONTENT_SOFT_LIMIT",
)
"""AutoMem settings Loci does not act on; start-up names any that are set, so nobody relies on them unknowingly."""


def unsupported_variables(environ: Mapping[str, str]) -> list[str]:
    return [name for name in UNSUPPORTED_AUTOMEM_VARIABLES if environ.get(name, "").strip()]
