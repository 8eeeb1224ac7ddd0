"""Settings from the environment: AutoMem's names, defaults, and start-up errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from loci.config import EmbeddingProviderName, Settings, unsupported_variables
from loci.errors import ConfigError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.port == 8001
    assert settings.data_dir == Path("./data")
    assert settings.embedding_provider is EmbeddingProviderName.LOCAL
    assert settings.embedded_falkordb
    assert settings.qdrant_location is None
    assert settings.bind_host == "127.0.0.1"


def test_automem_names_are_read() -> None:
    settings = Settings.from_env(
        {
            "AUTOMEM_API_TOKEN": "tok",
            "ADMIN_API_TOKEN": "adm",
            "FALKORDB_HOST": "graph.internal",
            "FALKORDB_PORT": "6380",
            "QDRANT_HOST": "vectors.internal",
            "QDRANT_VECTOR_SIZE": "768",
            "VECTOR_SIZE_AUTODETECT": "false",
            "EMBEDDING_BATCH_SIZE": "16",
            "RECALL_EXCLUDED_TYPES": "MetaPattern, Draft",
            "SEARCH_WEIGHT_VECTOR": "0.5",
            "LOCI_DATA_DIR": "/var/lib/loci",
        }
    )
    assert settings.api_token == "tok" and settings.admin_token == "adm"
    assert not settings.embedded_falkordb and settings.falkordb_port == 6380
    assert settings.qdrant_location == "http://vectors.internal:6333"
    assert settings.vector_size == 768 and settings.vector_size_autodetect is False
    assert settings.embedding_batch_size == 16
    assert settings.recall_excluded_types == ("MetaPattern", "Draft")
    assert settings.search_weight_vector == 0.5
    assert settings.data_dir == Path("/var/lib/loci")
    assert settings.bind_host == "0.0.0.0"


def test_qdrant_url_wins_over_host() -> None:
    settings = Settings.from_env({"QDRANT_URL": "http://q:1234", "QDRANT_HOST": "other"})
    assert settings.qdrant_location == "http://q:1234"


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_env({"FALKORDB_HOST": "", "PORT": " "}).embedded_falkordb


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"VECTOR_SIZE": "-3"}, "VECTOR_SIZE"),
        ({"EMBEDDING_PROVIDER": "voyage"}, "EMBEDDING_PROVIDER"),
        ({"EMBEDDING_BATCH_SIZE": "0"}, "EMBEDDING_BATCH_SIZE"),
        ({"VECTOR_SIZE_AUTODETECT": "maybe"}, "VECTOR_SIZE_AUTODETECT"),
        ({"SEARCH_WEIGHT_KEYWORD": "-1"}, "SEARCH_WEIGHT_KEYWORD"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"EMBEDDING_PROVIDER": "openai"}, "OPENAI_API_KEY"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_openai_with_base_url_needs_no_key() -> None:
    settings = Settings.from_env({"EMBEDDING_PROVIDER": "OpenAI", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert settings.embedding_provider is EmbeddingProviderName.OPENAI


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"EMBEDDING_PROVIDER": "auto"}, EmbeddingProviderName.LOCAL),
        ({"EMBEDDING_PROVIDER": "AUTO", "OPENAI_API_KEY": "sk-x"}, EmbeddingProviderName.OPENAI),
    ],
)
def test_auto_provider_resolves(env: dict[str, str], expected: EmbeddingProviderName) -> None:
    assert Settings.from_env(env).embedding_provider is expected


def test_unsupported_automem_variables_are_named() -> None:
    assert unsupported_variables({"VOYAGE_API_KEY": "v", "PORT": "1", "RECALL_ADAPTIVE_FLOOR": ""}) == [
        "VOYAGE_API_KEY"
    ]
