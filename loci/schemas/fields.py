"""The field types every request model shares, and `parse()`: validation into a 400 naming the field.

Each type does its own checks (a tag list, a timestamp, a vector of the store's dimension, a
memory id in canonical form); `validation_error` turns the first pydantic error into
`InvalidRequest`, e.g. `Invalid 'importance': Input should be less than or equal to 1`.
"""

from __future__ import annotations

import math
import uuid
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
)

from loci.errors import InvalidRequest
from loci.model import MEMORY_TYPES, normalize_type
from loci.timeutil import iso, parse_timestamp

MAX_TAGS = 200
MAX_TAG_LENGTH = 256
MAX_METADATA_BYTES = 64 * 1024


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _timestamp(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be an ISO-8601 string")
    return iso(parse_timestamp(value))


def _tags(value: Any) -> list[str]:
    """`null` -> [], a string -> one tag, a list -> its strings (trimmed, empties and repeats dropped)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(tag, str) for tag in value):
        raise ValueError("must be a list of strings or a single string")
    tags = list(dict.fromkeys(tag.strip() for tag in value if tag.strip()))
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tags):
        raise ValueError(f"each tag must be at most {MAX_TAG_LENGTH} characters")
    return tags


def _embedding(value: Any, info: ValidationInfo) -> Any:
    """A vector as a list of numbers or a comma-separated string, of the store's dimension."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise ValueError("must be a non-empty list of numbers")
    try:
        vector = [float(_not_bool(item)) for item in value]
    except (TypeError, ValueError):
        raise ValueError("must contain only numbers") from None
    if not all(math.isfinite(x) for x in vector):
        raise ValueError("must contain only finite numbers")
    dimension = (info.context or {}).get("dimension")
    if dimension and len(vector) != dimension:
        raise ValueError(f"must contain exactly {dimension} values (got {len(vector)})")
    return vector


def _memory_types(value: Any) -> list[str]:
    """Memory types, repeated or comma-separated, each named as Loci knows it (an unknown one is a 400)."""
    names = [part.strip() for item in (value if isinstance(value, list) else [value]) for part in str(item).split(",")]
    types = []
    for name in filter(None, names):
        kind = normalize_type(name)
        if kind is None:
            raise ValueError(f"unknown type {name!r}; known: {', '.join(MEMORY_TYPES)}")
        types.append(kind)
    return list(dict.fromkeys(types))


UnitFloat = Annotated[float, BeforeValidator(_not_bool), Field(ge=0.0, le=1.0)]
MemoryTypes = Annotated[list[str], BeforeValidator(_memory_types)]
"""Memory types in canonical form (aliases such as `fact` resolved), repeated or comma-separated."""
Timestamp = Annotated[str | None, BeforeValidator(_timestamp)]
Tags = Annotated[list[str], BeforeValidator(_tags)]
Embedding = Annotated[list[float] | None, BeforeValidator(_embedding)]


def canonical_id(value: object) -> str:
    """A memory id in canonical form (lower case, hyphens); ValueError unless it is a UUID string."""
    if not isinstance(value, str):
        raise ValueError("must be a UUID string")
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValueError("must be a valid UUID") from None


def _uuid(value: Any) -> Any:
    return canonical_id(value)


MemoryId = Annotated[str, BeforeValidator(_uuid)]


def _split_ids(value: Any) -> Any:
    """A list of ids or comma-separated strings (or one such string) as one flat list; blanks dropped."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("must be a list of memory ids or a comma-separated string")
    flat: list[Any] = []
    for item in value:
        if isinstance(item, str):
            flat.extend(part for part in item.split(",") if part.strip())
        else:
            flat.append(item)
    return flat


MemoryIds = Annotated[
    list[MemoryId],
    BeforeValidator(_split_ids, json_schema_input_type=list[str] | str),
    AfterValidator(lambda ids: list(dict.fromkeys(ids))),
]
"""Memory ids, canonical and each once: a list, or strings of comma-separated ids (a repeated
query parameter); a malformed one is named by its position, e.g. `ids[2]`."""


def validation_error(exc: ValidationError) -> InvalidRequest:
    """The first pydantic error as an InvalidRequest naming its field."""
    error = exc.errors()[0]
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]).lstrip(".")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "is required"
    return InvalidRequest(f"Invalid '{field}': {message}" if field else message, field=field or None)


Model = TypeVar("Model", bound=BaseModel)


def parse(model: type[Model], data: Any, **context: Any) -> Model:
    """Validate `data` against `model`, raising InvalidRequest (400) on the first error."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _strict_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


Flag = Annotated[bool, BeforeValidator(_strict_bool)]
