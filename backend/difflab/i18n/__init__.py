"""Chinese text for what the backend says to a learner: kind titles, descriptions, field help.

The English stays where it is written (the KindSpec and the pydantic `Field(description=...)`);
the Chinese lives beside it as data under `i18n/zh/`:

- `kinds/<kind name>.json`: `{"title": ..., "description": ..., "fields": {path: zh}}`, where
  `fields` is optional and names a field by its dotted path (`unet.lr` inside `house`);
- `fields.json`: `{English description: zh}` for field help shared by many kinds (`seed`,
  `n_samples`, ...).

A field's Chinese is the kind's own entry for its path if there is one, otherwise the shared
entry for its English text. Keying the shared table by the English means that rewording a
description makes its translation missing rather than silently stale; `missing()` lists every
kind title, description and field without Chinese, and a test keeps it empty.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from difflab.runtime import KindSpec

ZH_DIR = Path(__file__).parent / "zh"


@cache
def shared_fields() -> dict[str, str]:
    path = ZH_DIR / "fields.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


@cache
def kind_text(kind: str) -> dict[str, Any]:
    path = ZH_DIR / "kinds" / f"{kind}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _ref_of(prop: dict[str, Any]) -> str | None:
    if "$ref" in prop:
        return str(prop["$ref"])
    for option in prop.get("anyOf", []) + prop.get("allOf", []):
        if "$ref" in option:
            return str(option["$ref"])
    items = prop.get("items")
    if isinstance(items, dict) and "$ref" in items:
        return str(items["$ref"])
    return None


def _walk(
    schema: dict[str, Any], defs: dict[str, Any], prefix: str = "", seen: tuple[str, ...] = ()
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted path, property schema) of every field, nested models included."""
    for name, prop in schema.get("properties", {}).items():
        path = prefix + name
        yield path, prop
        ref = _ref_of(prop)
        if ref is not None:
            target = ref.rsplit("/", 1)[-1]
            if target not in seen and target in defs:
                yield from _walk(defs[target], defs, path + ".", (*seen, target))


def field_descriptions(params: type[BaseModel]) -> dict[str, str]:
    """Every field's English help, by dotted path."""
    schema = params.model_json_schema()
    return {
        p: str(prop.get("description", "")) for p, prop in _walk(schema, schema.get("$defs", {}))
    }


def field_zh(kind: str, path: str, english: str) -> str | None:
    own = kind_text(kind).get("fields", {}).get(path)
    if own:
        return str(own)
    return shared_fields().get(english) if english else None


def missing(specs: dict[str, KindSpec]) -> list[str]:
    """`kind: what` for every title, description and field help that has no Chinese."""
    out: list[str] = []
    for name, spec in specs.items():
        text = kind_text(name)
        if spec.title and not text.get("title"):
            out.append(f"{name}: title")
        if spec.description and not text.get("description"):
            out.append(f"{name}: description")
        fields = field_descriptions(spec.params)
        for path, english in fields.items():
            if english and field_zh(name, path, english) is None:
                out.append(f"{name}: field {path} ({english!r})")
        for path in text.get("fields", {}):
            if path not in fields:
                out.append(f"{name}: zh text for a field that does not exist: {path}")
    return out


def schema_with_zh(kind: str, params: type[BaseModel]) -> dict[str, Any]:
    """The params' JSON schema with `description_zh` beside every translated `description`.

    A model used at several paths (a $defs entry) is translated by the first path that reaches
    it; kinds that need path-specific text for such a model give it in their own file."""
    schema = copy.deepcopy(params.model_json_schema())
    for path, prop in _walk(schema, schema.get("$defs", {})):
        zh = field_zh(kind, path, str(prop.get("description", "")))
        if zh and "description_zh" not in prop:
            prop["description_zh"] = zh
    return schema
