"""Edit forms: a proposal's JSON schema turned into the fields the inbox widget draws.

The request stores its proposal's pydantic JSON schema, so a process without the agent's code can
draw the form. ``form_for`` walks that schema once, resolving ``$ref``s and optional
(``anyOf [..., null]``) fields, and returns a tree of plain dicts the browser renders: text,
integer and number inputs (with their bounds), checkboxes, dropdowns for enums and Literals,
lists with add/remove, nested models as fieldsets. Anything else falls back to a JSON text box.
Each field carries the proposal's value as its default (an input request's blank form,
``blank_form``, the model's defaults); a tool call's arguments a person may not
change (``ToolCall.editable``) are marked ``readonly`` (``only_editable``): shown, sent back as
they were. Checking what the human typed is not done
here: the answer goes through the store's one rule (``_core.answers.resolve``) like every other
channel, and its problems come back per field (``problems_by_field``).
"""

from __future__ import annotations

import re
from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "FieldKind",
    "FormField",
    "blank_form",
    "form_for",
    "only_editable",
    "problems_by_field",
]

FieldKind = Literal["text", "integer", "number", "boolean", "enum", "list", "object", "json"]

_SCALARS: dict[str, FieldKind] = {
    "string": "text",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
}
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength")
_MAX_DEPTH = 8


class FormField(TypedDict):
    """One field of an edit form, as the browser draws it."""

    kind: FieldKind
    path: str
    """Where the value sits in the proposal, ``/``-joined (``items/0/sku``); ``""`` is the root."""
    label: str
    value: Any
    required: bool
    nullable: bool
    description: NotRequired[str]
    options: NotRequired[list[Any]]
    bounds: NotRequired[dict[str, float]]
    fields: NotRequired[list[FormField]]
    item: NotRequired[FormField]
    readonly: NotRequired[bool]
    """Shown but not changeable: the answer sends the value back as it was."""


def form_for(schema: dict[str, Any], proposal: Any) -> FormField:
    """The form for editing ``proposal``, a value of the JSON ``schema``."""
    return _field(schema, schema, proposal, path="", label="", required=True, depth=0)


def blank_form(schema: dict[str, Any]) -> FormField:
    """The form an input request asks to fill in: empty but for the model's defaults."""
    form = form_for(schema, None)
    form["value"] = _defaults(form)
    return form


def _defaults(field: FormField) -> Any:
    """The value a form shows before anyone types: each field's default, nested objects too."""
    if field["kind"] != "object":
        return field["value"]
    return {
        field_["path"].rsplit("/", 1)[-1]: _defaults(field_) for field_ in field.get("fields", [])
    }


def only_editable(form: FormField, editable: list[str] | None) -> FormField:
    """``form`` with its top-level fields not named in ``editable`` marked read-only (None: all
    editable; empty: none)."""
    if editable is None or form["kind"] != "object":
        return form
    fields = []
    for field in form.get("fields", []):
        shown = field.copy()
        if field["path"] not in editable:
            shown["readonly"] = True
        fields.append(shown)
    locked = form.copy()
    locked["fields"] = fields
    return locked


def problems_by_field(problems: list[str]) -> dict[str, list[str]]:
    """Group the store's validation problems (``"a/b: message"``) by field path (``""``: whole)."""
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        match = re.match(r"^([\w/.-]+): (.*)$", problem, re.DOTALL)
        path, message = (match.group(1), match.group(2)) if match else ("", problem)
        grouped.setdefault("" if path == "value" else path, []).append(message)
    return grouped


def _resolve(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in node and seen < _MAX_DEPTH:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        seen += 1
    return node


def _field(
    root: dict[str, Any],
    node: dict[str, Any],
    value: Any,
    *,
    path: str,
    label: str,
    required: bool,
    depth: int,
) -> FormField:
    node = _resolve(root, node)
    nullable = False
    variants = node.get("anyOf") or node.get("oneOf")
    if variants:
        resolved = [_resolve(root, v) for v in variants]
        non_null = [v for v in resolved if v.get("type") != "null"]
        nullable = len(non_null) < len(resolved)
        if len(non_null) == 1:
            extra = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
            node = {**non_null[0], **extra}
        else:
            return _make(
                "json", node, value, path, label=label, required=required, nullable=nullable
            )
    if value is None and "default" in node:
        value = node["default"]
    kind = _kind_of(node)
    if depth >= _MAX_DEPTH and kind in ("list", "object"):
        kind = "json"
    made = _make(kind, node, value, path, label=label, required=required, nullable=nullable)
    if kind == "enum":
        made["options"] = [node["const"]] if "const" in node else list(node["enum"])
    elif kind in ("integer", "number", "text"):
        bounds = {key: node[key] for key in _BOUNDS if key in node}
        if bounds:
            made["bounds"] = bounds
    elif kind == "object":
        needed = set(node.get("required", []))
        given = value if isinstance(value, dict) else {}
        made["fields"] = [
            _field(
                root,
                sub,
                given.get(name),
                path=f"{path}/{name}" if path else name,
                label=sub.get("title") or name,
                required=name in needed,
                depth=depth + 1,
            )
            for name, sub in node.get("properties", {}).items()
        ]
    elif kind == "list":
        made["item"] = _field(
            root,
            node.get("items", {}),
            None,
            path=f"{path}/*" if path else "*",
            label="",
            required=True,
            depth=depth + 1,
        )
        made["value"] = value if isinstance(value, list) else []
    return made


def _kind_of(node: dict[str, Any]) -> FieldKind:
    if "enum" in node or "const" in node:
        return "enum"
    kind = node.get("type")
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array" and isinstance(node.get("items", {}), dict):
        return "list"
    if kind == "object" and "properties" in node:
        return "object"
    return "json"


def _make(
    kind: FieldKind,
    node: dict[str, Any],
    value: Any,
    path: str,
    *,
    label: str,
    required: bool,
    nullable: bool,
) -> FormField:
    made = FormField(
        kind=kind,
        path=path,
        label=label or node.get("title", ""),
        value=value,
        required=required,
        nullable=nullable,
    )
    if node.get("description"):
        made["description"] = node["description"]
    return made
