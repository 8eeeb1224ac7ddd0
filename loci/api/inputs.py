"""What a request brings, read once for every view.

The Services of its namespace; the JSON body, refusing what no store can hold; the query
string's values, refusing a scalar given twice; path ids and integer parameters. Each
refusal is an `InvalidRequest` (400) naming the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

from flask import current_app, g, request
from werkzeug.datastructures import MultiDict

from loci.errors import InvalidRequest
from loci.model import Memory, epoch
from loci.namespaces import DEFAULT, Principal
from loci.runtime import Runtime
from loci.schemas import canonical_id
from loci.services import Services


def services() -> Services:
    """The Services of the namespace this request acts in (loci/api/auth.py chose it)."""
    return runtime().namespace(g.get("namespace", DEFAULT))


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["loci.runtime"]
    return rt


def principal() -> Principal:
    """Who this request acts as (loci/api/auth.py)."""
    found: Principal = g.get("principal") or Principal()
    return found


MAX_INT = 2**63 - 1
"""Integers beyond 64 bits cannot be stored in the graph."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidRequest(f"Malformed JSON body: {text} is out of range")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_INT:
        raise InvalidRequest("Malformed JSON body: an integer does not fit in 64 bits")
    return value


def _no_constant(name: str) -> Any:
    raise InvalidRequest(f"Malformed JSON body: {name} is not a JSON number")


def json_object() -> dict[str, Any]:
    """The request body as a JSON object (whatever the Content-Type says), or 400.

    Beyond JSON syntax it refuses what no store can hold: NaN and infinities, integers
    over 64 bits, NUL characters and unpaired surrogates in any string.
    """
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: 413
    if not raw.strip():
        raise InvalidRequest("JSON body is required")
    try:
        body = json.loads(raw, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant)
        check_text(body, "")
    except ValueError as exc:
        raise InvalidRequest(f"Malformed JSON body: {exc}") from None
    except RecursionError:
        raise InvalidRequest("Malformed JSON body: nested too deeply") from None
    if not isinstance(body, dict):
        raise InvalidRequest("JSON body must be an object")
    return body


def optional_json_object() -> dict[str, Any]:
    """The body as a JSON object, or {} when there is none (routes whose every field has a default)."""
    return json_object() if request.get_data(cache=True).strip() else {}


def check_text(value: Any, path: str) -> None:
    """Raise InvalidRequest naming the field if a string holds NUL or cannot be encoded as UTF-8."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequest(f"Invalid '{path}': must not contain NUL characters", field=path or None)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidRequest(f"Invalid '{path}': is not valid Unicode text", field=path or None) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, path)
            check_text(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{path}[{index}]")


def check_query_string() -> None:
    for name, values in request.args.lists():
        for value in (name, *values):
            check_text(value, name)
    query_values(request.args)  # a scalar parameter given twice is a 400 on every route


LIST_QUERY_PARAMS = frozenset(
    {"tags", "exclude_tags", "queries", "ids", "relationship_types", "priority_ids", "context_tags", "context_types"}
    | {"types", "type"}  # /graph/snapshot, /recall, /memories
)
"""Query parameters that take several values (repeated, or comma-separated); their values are merged."""


def query_values(args: MultiDict[str, str]) -> dict[str, str | list[str]]:
    """A query string as a dict for a model: list parameters keep every value; any other given
    twice is a 400 naming it (the first value winning silently would hide the client's mistake)."""
    values: dict[str, str | list[str]] = {}
    for name, given in args.lists():
        if name in LIST_QUERY_PARAMS:
            values[name] = given
        elif len(given) > 1:
            raise InvalidRequest(f"Invalid '{name}': given {len(given)} times; it takes one value", field=name)
        else:
            values[name] = given[0]
    return values


def memory_id_param(value: str) -> str:
    """A path id in canonical form, or 400."""
    try:
        return canonical_id(value)
    except ValueError:
        raise InvalidRequest("memory_id must be a valid UUID", field="memory_id") from None


def int_param(name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter clamped to [low, high]; 400 if it is not an integer."""
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"Invalid '{name}': must be an integer", field=name) from None
    return max(low, min(high, value))


def page_cursor(memory: Memory) -> str | None:
    """The opaque cursor of the page after `memory`: "<timestamp_epoch>:<id>", base64url without padding.

    The epoch is computed again from the timestamp, as `Memory.to_node` computed the stored one,
    rather than read from the graph: FalkorDB answers doubles rounded to 15 digits, and the
    rounded value would skip or repeat memories stored within a microsecond of it.
    """
    seconds = epoch(memory.timestamp)
    if seconds is None:
        return None
    return base64.urlsafe_b64encode(f"{seconds!r}:{memory.id}".encode()).decode().rstrip("=")


def cursor_param(name: str = "cursor") -> tuple[float, str] | None:
    """A `page_cursor` from the query string as (timestamp_epoch, id); None when absent; 400 naming it if malformed."""
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        text = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=True).decode("ascii")
        seconds, memory_id = text.split(":", 1)
        position = float(seconds), memory_id
        valid = math.isfinite(position[0]) and canonical_id(memory_id) == memory_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        valid = False
    if not valid:
        raise InvalidRequest(f"Invalid '{name}': not a cursor this API gave (pass next_cursor as it is)", field=name)
    return position
