"""The OpenAPI 3.1 document at /openapi.json and its docs page at /docs (Swagger UI, vendored).

The document is built with openapi-pydantic (pydantic models of the OpenAPI 3.1 objects)
from the models the API already validates with: request bodies and the /recall query
from `loci.schemas` and `loci.recall.params`, responses from `loci.api.responses`,
routes from the table in `loci.api.operations`. tests/test_openapi.py checks the table
against `app.url_map` and runs schemathesis against the live service with the document.

The docs page works under a strict Content-Security-Policy: no inline script or style,
every asset from this origin (loci/static/).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, send_file
from openapi_pydantic import (
    Components,
    Info,
    MediaType,
    OpenAPI,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
    Tag,
)
from openapi_pydantic import Response as ApiResponse
from openapi_pydantic.util import PydanticSchema, construct_open_api_with_schema_class
from openapi_pydantic.v3.v3_1 import Header, Link, schema_validate
from pydantic import BaseModel

from loci import __version__
from loci.api import responses
from loci.api.inputs import services
from loci.api.operations import ERROR_MEANINGS, FRONT, ID_PATH, OPERATIONS, Op
from loci.model import MEMORY_TYPES, TYPE_ALIASES
from loci.namespaces import NAME_PATTERN

bp = Blueprint("openapi", __name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from another origin: the page's init code is docs/init.js."""


@bp.get("/openapi.json")
def document() -> Response:
    """The OpenAPI 3.1 document of this API."""
    return jsonify(build_document(services().vectors.dimension))


@bp.get("/docs")
def docs() -> Response:
    """Swagger UI over /openapi.json."""
    response = send_file(STATIC_DIR / "docs" / "index.html", mimetype="text/html", max_age=0)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


SECURITY_SCHEMES = {
    "bearerAuth": SecurityScheme(type="http", scheme="bearer", description="Authorization: Bearer <AUTOMEM_API_TOKEN>"),
    "apiKeyHeader": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
    "apiKeyQuery": SecurityScheme(type="apiKey", name="api_key", security_scheme_in="query"),
    "adminToken": SecurityScheme(
        type="apiKey",
        name="X-Admin-Token",
        security_scheme_in="header",
        description="ADMIN_API_TOKEN, on admin routes as well as the API token (also X-Admin-Api-Key or ?admin_token=)",
    ),
}
API_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyHeader": []}, {"apiKeyQuery": []}]
OPENAPI_VERSION = "3.1.1"
TAGS = ("memories", "relations", "recall", "entities", "graph", "pipeline", "admin", "service")
TIMESTAMP_FIELDS = ("timestamp", "updated_at", "last_accessed", "t_valid", "t_invalid", "start", "end")


@functools.cache
def build_document(dimension: int) -> dict[str, Any]:
    """The whole document as JSON-ready data, for a vector store of this dimension (built once)."""
    paths: dict[str, PathItem] = {}
    for op in OPERATIONS:
        item = paths.setdefault(op.path, PathItem())
        setattr(item, op.method, _operation(op))
    api = OpenAPI(
        openapi=OPENAPI_VERSION,
        info=Info(
            title="Loci",
            version=__version__,
            description="Long-term memory for AI assistants; AutoMem-compatible. Errors: "
            '`{"status": "error", "code": N, "message": ..., "field"?: ...}`.',
        ),
        paths=paths,
        tags=[Tag(name=name) for name in TAGS],
        security=API_SECURITY,
        components=Components(
            securitySchemes=SECURITY_SCHEMES,
        ),
    )
    models = [*responses.RESPONSE_MODELS, *_alternatives()]
    api = construct_open_api_with_schema_class(api, schema_classes=list(dict.fromkeys(models)))
    data: dict[str, Any] = api.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)
    _bounds(data)
    _refine(data["components"]["schemas"], dimension)
    return data


def _operation(op: Op) -> Operation:
    security = {"api": None, "open": [], "admin": [{**req, "adminToken": []} for req in API_SECURITY]}[op.auth]
    parameters = [*_path_parameters(op), *_query_parameters(op.query), *_header_parameters(op)]
    return Operation(
        operationId=op.endpoint,
        summary=op.summary,
        tags=[op.tag],
        parameters=parameters or None,
        requestBody=_request_body(op),
        responses={
            **{str(status): _ok(status, kind, op) for status, kind in op.ok.items()},
            **{str(status): _error(status) for status in sorted({*op.errors, *FRONT, *_chosen(op)} - set(op.ok))},
        },
        security=security,
    )


def _ok(status: int, kind: type[BaseModel] | tuple[type[BaseModel], ...] | str, op: Op) -> ApiResponse:
    if isinstance(kind, str):
        return ApiResponse(description="OK", content={kind: MediaType(media_type_schema=_media_schema(kind))})
    schema = _schema_of(kind)
    links = {
        name: Link(operationId=target, parameters={"memory_id": "$response.body#/memory_id"})
        for name, target in op.links.items()
        if status == 201
    }
    replayed = Header(
        description="true when this is the stored answer to an earlier request with the same Idempotency-Key",
        param_schema=schema_validate({"type": "string", "enum": ["true"]}),
    )
    return ApiResponse(
        description=_first_line((kind[0] if isinstance(kind, tuple) else kind).__doc__),
        content={"application/json": MediaType(media_type_schema=schema)},
        headers={"Idempotent-Replayed": replayed} if "Idempotency-Key" in op.headers else None,
        links=links or None,
    )


def _first_line(doc: str | None) -> str:
    return doc.splitlines()[0] if doc else "OK"


def _media_schema(media_type: str) -> Any:
    if media_type == "application/json":
        return schema_validate({"type": "object"})
    return schema_validate({"type": "string"})


def _error(status: int) -> ApiResponse:
    headers = {"Retry-After": Header(description="Seconds", param_schema=schema_validate({"type": "string"}))}
    return ApiResponse(
        description=ERROR_MEANINGS.get(status, "Error"),
        content={"application/json": MediaType(media_type_schema=PydanticSchema(schema_class=responses.ErrorEnvelope))},
        headers=headers if status in (503, 507) else None,
    )


def _request_body(op: Op) -> RequestBody | None:
    if op.body is None:
        return None
    return RequestBody(
        required=op.body_required, content={"application/json": MediaType(media_type_schema=_schema_of(op.body))}
    )


def _schema_of(kind: type[BaseModel] | tuple[type[BaseModel], ...]) -> Any:
    """A reference to a model's schema, or `anyOf` references to several (their classes: `_alternatives`)."""
    if isinstance(kind, tuple):
        # openapi-pydantic sets populate_by_name under `if PYDANTIC_V2:`, where pydantic's mypy plugin cannot
        # see it, so the plugin wants the alias (`$ref`) as the keyword; at run time the field name is accepted.
        refs = [Reference(ref=f"#/components/schemas/{m.__name__}") for m in kind]  # type: ignore[call-arg]
        return Schema(anyOf=refs)
    return PydanticSchema(schema_class=kind)


def _alternatives() -> list[type[BaseModel]]:
    """Models referenced through `anyOf`, which openapi-pydantic's scan for PydanticSchema cannot see."""
    kinds = [op.body for op in OPERATIONS] + [kind for op in OPERATIONS for kind in op.ok.values()]
    return [model for kind in kinds if isinstance(kind, tuple) for model in kind]


def _path_parameters(op: Op) -> list[Parameter]:
    if ID_PATH in op.path:
        return [_parameter("memory_id", "path", {"type": "string", "format": "uuid"}, True, "A memory id (UUID).")]
    if "{slug}" in op.path:
        return [_parameter("slug", "path", {"type": "string"}, True, "An entity's slug, alias or id.")]
    if "{name}" in op.path:
        return [_parameter("name", "path", {"type": "string", "pattern": NAME_PATTERN.pattern}, True, "A namespace.")]
    if "{filename}" in op.path:
        return [_parameter("filename", "path", {"type": "string"}, True, "A file's path.")]
    if "{path}" in op.path:
        return [_parameter("path", "path", {"type": "string"}, True, "A page path of AutoMem's viewer.")]
    return []


def _chosen(op: Op) -> tuple[int, ...]:
    """What choosing a namespace (X-Loci-Namespace) may answer on any route that takes a token."""
    return () if op.auth == "open" else (403, 404)


def _header_parameters(op: Op) -> list[Parameter]:
    namespace = _parameter(
        "X-Loci-Namespace",
        "header",
        {"type": "string", "pattern": NAME_PATTERN.pattern},
        False,
        "The namespace to act in: an admin's choice; other tokens may only name their own (403). An admin's read "
        "of a namespace that does not exist is a 404; a write creates it.",
    )
    return [
        *([namespace] if op.auth != "open" else []),
        *(
            _parameter(
                name,
                "header",
                {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
                False,
                "A repeat within IDEMPOTENCY_WINDOW_SECONDS gets the first response again (Idempotent-Replayed: true).",
            )
            for name in op.headers
        ),
    ]


def _query_parameters(model: type[BaseModel] | None) -> list[Parameter]:
    """One query parameter per model field; enums are written in place, nullable unions lose `null`."""
    if model is None:
        return []
    schema = model.model_json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})
    required = set(schema.get("required", ()))
    parameters = []
    for name, declared in schema["properties"].items():
        prop = _without_null(declared)
        if "$ref" in prop:
            prop = {**definitions[prop.pop("$ref")], **prop}
        if name == "embedding":  # a vector travels in the query string as one comma-separated value
            prop = {"type": "string", "description": "Comma-separated numbers, one per dimension."}
        elif name in TIMESTAMP_FIELDS:
            prop = {**prop, "format": "date-time"}
        description = prop.pop("description", None)
        parameters.append(_parameter(name, "query", prop, name in required, description))
    return parameters


def _without_null(prop: dict[str, Any]) -> dict[str, Any]:
    variants = [v for v in prop.get("anyOf", ()) if v.get("type") != "null"]
    if not variants:
        return dict(prop)
    rest = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    return {**rest, **variants[0]} if len(variants) == 1 else {**rest, "anyOf": variants}


def _parameter(name: str, where: str, schema: dict[str, Any], required: bool, description: str | None) -> Parameter:
    array = schema.get("type") == "array"
    return Parameter(  # type: ignore[call-arg]  # `param_in` is accepted: see the note in _schema_of
        name=name,
        param_in=where,
        required=required,
        description=description,
        param_schema=schema_validate(schema),
        style="form" if array else None,
        explode=True if array else None,
    )


CONSTRAINT_KEYWORDS = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
"""pydantic writes a bound that follows a BeforeValidator under its Python name; JSON Schema's names."""


def _bounds(node: Any) -> None:
    if isinstance(node, dict):
        if "type" in node:
            for python, keyword in CONSTRAINT_KEYWORDS.items():
                if python in node:
                    node[keyword] = node.pop(python)
        for value in node.values():
            _bounds(value)
    elif isinstance(node, list):
        for value in node:
            _bounds(value)


def _refine(schemas: dict[str, Any], dimension: int) -> None:
    """Say in the document what the validators check beyond the types pydantic sees."""
    vector = {"type": "array", "items": {"type": "number"}, "minItems": dimension, "maxItems": dimension}
    schemas["StoreMemory"]["properties"]["embedding"] = {"anyOf": [vector, {"type": "null"}]}
    kinds = sorted({*MEMORY_TYPES, *TYPE_ALIASES})
    for name in ("StoreMemory", "PatchMemory"):
        props = schemas[name]["properties"]
        props["content"] = {**_without_null(props["content"]), "minLength": 1, "pattern": "\\S"}
        props["type"] = {"anyOf": [{"type": "string", "enum": kinds}, {"type": "null"}]}
        for stamp in TIMESTAMP_FIELDS:
            if stamp in props:
                props[stamp] = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}
