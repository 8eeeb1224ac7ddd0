"""deploy/compose.yaml, checked without a Docker engine (none runs here): every Loci service's command is
one our command line accepts, and its environment is settings Loci reads and accepts together."""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import AliasChoices

from loci.cli import build_parser
from loci.config import Settings
from tests.helpers import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"


def services() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document["services"]


def substituted(value: str) -> str:
    """${NAME:-default} -> default, ${NAME:?message} -> a stand-in, as `docker compose` would with NAME set."""
    value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)
    value = re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", "compose-test-value", value)
    return re.sub(r"\$\{[A-Z_]+:\+[^}]*\}", "", value)


def test_each_loci_service_runs_a_command_we_accept_with_settings_we_read() -> None:
    loci_services = {name: spec for name, spec in services().items() if "build" in spec}
    assert set(loci_services) == {"api", "worker"}
    known: set[str] = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        known.update(choice for choice in choices if isinstance(choice, str))
    for name, spec in loci_services.items():
        command = spec["command"]
        assert command[:3] == ["python", "-m", "loci"], name
        args = build_parser().parse_args(command[3:])
        assert args.command == ("serve" if name == "api" else "worker")
        env = {key: substituted(str(value)) for key, value in spec["environment"].items()}
        unknown = set(env) - known
        assert not unknown, (name, unknown)
        settings = Settings.from_env(env)
        assert settings.shared_queues and not settings.embedded_falkordb and not settings.embedded_qdrant
        assert settings.api_token and settings.admin_token


def test_falkordb_keeps_every_acknowledged_write() -> None:
    falkordb = services()["falkordb"]
    assert "--appendonly yes" in falkordb["environment"]["REDIS_ARGS"]
    assert "--appendfsync always" in falkordb["environment"]["REDIS_ARGS"]
    assert falkordb["volumes"] and services()["qdrant"]["volumes"]
