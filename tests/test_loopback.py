"""Without an API token the API serves this machine only, whatever address the server was bound to.

gunicorn.conf.py binds 127.0.0.1 then, but `GUNICORN_CMD_ARGS="--bind 0.0.0.0:PORT"` or a
platform's start command can override that, so the app itself refuses other peers.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from loci.api.auth import is_local


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("", True),  # a Unix socket has no peer address
        ("192.0.2.7", False),
        ("10.0.0.5", False),
        ("2001:db8::1", False),
        ("::ffff:192.0.2.7", False),
        ("not-an-address", False),
    ],
)
def test_which_peers_are_this_machine(address: str, local: bool) -> None:
    assert is_local(address) is local


def test_an_open_api_refuses_other_hosts(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    for path in ("/recall?query=x", "/health", "/memory/status?ids="):
        refused = client.get(path, environ_base=remote)
        assert refused.status_code == 403
        assert refused.json["code"] == 403 and "AUTOMEM_API_TOKEN" in refused.json["message"]
    assert client.post("/memory", json={"content": "from afar"}, environ_base=remote).status_code == 403
    assert client.get("/health", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200


def test_with_a_token_other_hosts_are_served(make_app: Callable[..., Flask]) -> None:
    client = make_app(api_token="secret").test_client()
    remote = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get("/recall?query=x", environ_base=remote).status_code == 401
    authorised = client.get("/recall?query=x", environ_base=remote, headers={"Authorization": "Bearer secret"})
    assert authorised.status_code == 200
