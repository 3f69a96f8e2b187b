"""The OpenAPI 3.1 description of the HTTP API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from edgerec import __version__
from edgerec.serve._settings import Settings
from edgerec.serve._validate import latest_timestamp

_ID = {"type": "string", "minLength": 1, "maxLength": 256}
_IDS = {"type": "array", "items": _ID, "maxItems": 1000}
# Optional body fields accept null as "not given".
_OPT_IDS = {"type": ["array", "null"], "items": _ID, "maxItems": 1000}
_OPT_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 256}
_ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_ERRORS = {str(code): _ERROR for code in (400, 404, 405, 413, 415, 422, 503)}


def _ok(schema: str) -> dict[str, Any]:
    return {
        "200": {
            "description": "OK",
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        **_ERRORS,
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    k_schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": settings.max_k}
    k = {
        "name": "k",
        "in": "query",
        "required": False,
        "schema": k_schema,
    }
    recommendation_body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "items": _OPT_IDS,
            "k": {**k_schema, "type": ["integer", "null"]},
            "exclude": _OPT_IDS,
            "category": {**_OPT_ID, "description": "a catalog category (404 if unknown)"},
            "candidates": _OPT_IDS,
        },
    }
    event = {
        "type": "object",
        "additionalProperties": False,
        "required": ["user_id", "item_id"],
        "properties": {
            "user_id": _ID,
            "item_id": _ID,
            "event_type": _OPT_ID,
            "timestamp": {
                "description": (
                    "epoch seconds (up to the end of tomorrow, UTC) or ISO 8601 (no zone: UTC);"
                    " null or absent: the time received"
                ),
                "oneOf": [
                    {"type": "null"},
                    {"type": "number", "minimum": 0, "maximum": latest_timestamp()},
                    {"type": "string", "format": "date-time"},
                ],
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "edgerec", "version": __version__},
        "paths": {
            "/v1/users/{user_id}/recommendations": {
                "get": {
                    "summary": "Personalised top-k for a known shopper (popular items if unknown).",
                    "parameters": [
                        {"name": "user_id", "in": "path", "required": True, "schema": _ID},
                        k,
                        {
                            "name": "exclude",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "comma-separated item ids",
                        },
                        {
                            "name": "category",
                            "in": "query",
                            "required": False,
                            "schema": _ID,
                            "description": "only items of this catalog category (404 if unknown)",
                        },
                    ],
                    "responses": _ok("Recommendations"),
                }
            },
            "/v1/recommendations": {
                "post": {
                    "summary": "Top-k for an anonymous session, or re-rank `candidates`.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": recommendation_body}},
                    },
                    "responses": _ok("Recommendations"),
                }
            },
            "/v1/items/{item_id}/similar": {
                "get": {
                    "summary": "Items similar to one item.",
                    "parameters": [
                        {"name": "item_id", "in": "path", "required": True, "schema": _ID},
                        k,
                    ],
                    "responses": _ok("Recommendations"),
                }
            },
            "/v1/events": {
                "post": {
                    "summary": "Record events; a 200 means they are durable in SQLite.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "required": ["events"],
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": settings.max_events_per_batch,
                                            "items": event,
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": _ok("Accepted"),
                }
            },
            "/healthz": {"get": {"summary": "Alive.", "responses": _ok("Ok")}},
            "/readyz": {
                "get": {"summary": "Model loaded and store usable.", "responses": _ok("Ok")}
            },
            "/version": {"get": {"summary": "Served artifact manifest.", "responses": _ok("Ok")}},
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["ok", "status", "code", "error"],
                    "properties": {
                        "ok": {"const": False},
                        "status": {"type": "integer"},
                        "code": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
                "Ok": {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}},
                "Accepted": {
                    "type": "object",
                    "required": ["ok", "accepted", "unknown_items"],
                    "properties": {
                        "ok": {"const": True},
                        "accepted": {"type": "integer"},
                        "unknown_items": _IDS,
                    },
                },
                "Recommendations": {
                    "type": "object",
                    "required": ["ok", "items", "source"],
                    "properties": {
                        "ok": {"const": True},
                        "model_version": {"type": "string"},
                        "source": {"type": "string"},
                        "items": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["item_id", "source"],
                                "properties": {
                                    "item_id": _ID,
                                    "score": {"type": ["number", "null"]},
                                    "source": {"type": "string"},
                                    "name": {"type": "string"},
                                    "category": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            }
        },
    }
