"""Requests whose shape no store can hold get a 400 naming the problem, never a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from loci.services import Services

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"content":"x","timestamp":"0001-01-01T00:00:00+01:00"}', "timestamp"),
        ('{"content":"x","t_invalid":"9999-12-31T23:59:59-05:00"}', "t_invalid"),
        (DEEP, "nested too deeply"),
        ('{"content":"x","metadata":' + '{"a":' * 5000 + "1" + "}" * 5000 + "}", "nested too deeply"),
        ('{"content":"a\\u0000b"}', "NUL"),
        ('{"content":"a\\ud800b"}', "Unicode"),
        ('{"content":"x","tags":["a\\udfffb"]}', "tags[0]"),
        ('{"content":"x","metadata":{"x":NaN}}', "NaN"),
        ('{"content":"x","importance":1e400}', "out of range"),
        ('{"content":"x","importance":1' + "0" * 400 + "}", "64 bits"),
        (b'{"content":"\xff\xfe"}', "utf-8"),
    ],
)
def test_bodies_no_store_can_hold(client: FlaskClient, services: Services, body: str | bytes, message: str) -> None:
    response = client.post("/memory", data=body, content_type="application/json")
    assert response.status_code == 400 and message in response.json["message"]
    assert services.graph.memories.count() == 0


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/memory/by-tag?tags=a%00b", "NUL"),
        ("/recall?tags=a%00b", "NUL"),
        ("/recall?query=x&start=0001-01-01T00:00:00%2B01:00", "start"),
        ("/recall?query=x&min_score=nan", "min_score"),
    ],
)
def test_query_strings_no_store_can_hold(client: FlaskClient, path: str, message: str) -> None:
    response = client.get(path)
    assert response.status_code == 400 and message in response.json["message"]


def test_an_absurd_time_window_is_reported_not_computed(client: FlaskClient) -> None:
    response = client.get("/recall?query=x&time_query=last%2099999%20years")
    assert response.status_code == 200 and response.json["warnings"]


def test_association_properties_must_be_finite(client: FlaskClient) -> None:
    a = client.post("/memory", json={"content": "a"}).json["memory_id"]
    b = client.post("/memory", json={"content": "b"}).json["memory_id"]
    body = f'{{"memory1_id":"{a}","memory2_id":"{b}","type":"EVOLVED_INTO","confidence":Infinity}}'
    response = client.post("/associate", data=body, content_type="application/json")
    assert response.status_code == 400 and "Infinity" in response.json["message"]
