"""The OpenAPI document turned into what the API's documentation page shows.

Served scripts (Swagger UI, ReDoc) would break the Content-Security-Policy every page
keeps, so the page is rendered on the server from the same document programs read.
"""

from __future__ import annotations

from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def _name(reference: str) -> str:
    return reference.rsplit("/", 1)[1]


def kind(schema: dict[str, Any]) -> dict[str, Any]:
    """A schema's type in words, and the component it refers to (for a link), if any."""
    if "$ref" in schema:
        return {"text": _name(schema["$ref"]), "link": _name(schema["$ref"])}
    if "oneOf" in schema:
        parts = [kind(s) for s in schema["oneOf"]]
        return {"text": " or ".join(p["text"] for p in parts), "link": parts[0].get("link")}
    if schema.get("type") == "array":
        inner = kind(schema.get("items", {}))
        return {"text": f"list of {inner['text']}", "link": inner.get("link")}
    text = schema.get("type") or "number or text"
    if schema.get("enum"):
        text = "one of " + ", ".join(schema["enum"])
    if schema.get("format"):
        text += f" ({schema['format']})"
    if schema.get("pattern"):
        text += f" like {schema.get('example', schema['pattern'])}"
    if schema.get("nullable"):
        text += " or null"
    return {"text": text, "link": None}


def _response(status: str, response: dict[str, Any]) -> dict[str, Any]:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    body = kind(schema) if schema else {"text": None, "link": None}
    return {
        "status": status,
        "description": response.get("description", ""),
        "headers": list(response.get("headers", {})),
        **body,
    }


def _fields(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "required": name in required,
            "description": prop.get("description", ""),
            **kind(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def describe(spec: dict[str, Any]) -> dict[str, Any]:
    """Operations by tag, each with its parameters, body and responses; then the schemas."""
    tags = {t["name"]: {**t, "operations": []} for t in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            tags[operation["tags"][0]]["operations"].append(
                {
                    "id": f"{method}-{path}".replace("/", "-")
                    .strip("-")
                    .replace("{", "")
                    .replace("}", ""),
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "where": p["in"],
                            "required": p.get("required", False),
                            **kind(p.get("schema", {})),
                        }
                        for p in shared + operation.get("parameters", [])
                    ],
                    "body": kind(body["schema"]) if body else None,
                    "responses": [
                        _response(status, response)
                        for status, response in sorted(operation["responses"].items())
                    ],
                }
            )
    schemas = spec.get("components", {}).get("schemas", {})
    return {
        "info": spec["info"],
        "tags": [t for t in tags.values() if t["operations"]],
        "schemas": [
            {"name": name, "fields": _fields(schema)}
            for name, schema in sorted(schemas.items())
            if name != "PaginationMetadata"
        ],
    }
