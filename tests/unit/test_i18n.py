"""difflab.i18n and the Chinese it serves: every kind's title, description and field help has
Chinese, the data files are sound, nested fields carry `description_zh`, and rewording an English
description makes its translation missing instead of stale. Also the Chinese docs under docs/zh:
their links resolve and their eval report is the shipped one."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, create_model

from difflab import i18n
from difflab.jobs.registry import all_kinds

ROOT = Path(__file__).resolve().parents[2]
ZH_DOCS = ROOT / "docs" / "zh"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _prop(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The property schema at a dotted path, following $ref (directly, in anyOf/allOf, in items)."""
    node = schema
    prop: dict[str, Any] = {}
    for name in path.split("."):
        prop = node["properties"][name]
        refs = [prop, *prop.get("anyOf", []), *prop.get("allOf", []), prop.get("items", {})]
        ref = next((r["$ref"] for r in refs if isinstance(r, dict) and "$ref" in r), None)
        if ref is not None:
            node = schema["$defs"][ref.rsplit("/", 1)[-1]]
    return prop


def test_every_kind_title_description_and_field_has_chinese() -> None:
    assert i18n.missing(all_kinds()) == []


def test_each_kind_file_parses_names_a_real_kind_and_has_no_empty_text() -> None:
    kinds = all_kinds()
    files = sorted((i18n.ZH_DIR / "kinds").glob("*.json"))
    assert files
    for path in files:
        text = json.loads(path.read_text(encoding="utf-8"))
        assert path.stem in kinds, f"{path.name} names no kind"
        assert set(text) <= {"title", "description", "fields"}, path.name
        assert all(s.strip() for s in _strings(text)), f"{path.name} has an empty string"
        # the title may be a bare name (t-SNE); the rest is written in Chinese
        rest = [text.get("description", ""), *_strings(text.get("fields", {}))]
        assert all(CJK.search(s) for s in rest if s), f"{path.name} has text that is not Chinese"


def test_the_shared_table_is_chinese_for_english_some_field_still_has() -> None:
    shared = json.loads((i18n.ZH_DIR / "fields.json").read_text(encoding="utf-8"))
    assert shared and all(v.strip() and CJK.search(v) for v in shared.values())
    english = {
        text
        for spec in all_kinds().values()
        for text in i18n.field_descriptions(spec.params).values()
    }
    # an entry no field uses is the old text of a reworded description
    assert sorted(set(shared) - english) == []


def test_the_schema_carries_chinese_on_nested_fields() -> None:
    for kind, paths in {
        "house": ["unet", "unet.lr", "unet.beta_schedule", "vae.kl_weight", "clip.text_hidden"],
        "xyz": ["base.prompt", "base.loras.weight", "base.sd_upscale.overlap", "x.field"],
    }.items():
        params = all_kinds()[kind].params
        schema = i18n.schema_with_zh(kind, params)
        for path in paths:
            assert _prop(schema, path)["description_zh"], (kind, path)
        # every field of both kinds, at whatever depth, has the Chinese its path resolves to
        for path, english in i18n.field_descriptions(params).items():
            want = i18n.field_zh(kind, path, english)
            assert want and _prop(schema, path).get("description_zh") == want, (kind, path)
    # the English stays as it was, and the kind's own schema is not changed in place
    house = all_kinds()["house"].params
    english = _prop(house.model_json_schema(), "unet.lr")["description"]
    assert _prop(i18n.schema_with_zh("house", house), "unet.lr")["description"] == english
    assert "description_zh" not in json.dumps(house.model_json_schema())


def test_a_reworded_english_description_shows_up_as_missing() -> None:
    spec = all_kinds()["lab.mlp"]
    assert i18n.missing({"lab.mlp": spec}) == []

    Reworded = create_model(
        "Reworded",
        __base__=spec.params,
        lr=(float, Field(0.01, gt=0, description="The step size of gradient descent.")),
    )
    reworded = dataclasses.replace(spec, params=Reworded)
    assert i18n.missing({"lab.mlp": reworded}) == [
        "lab.mlp: field lr ('The step size of gradient descent.')"
    ]
    assert "description_zh" not in _prop(i18n.schema_with_zh("lab.mlp", Reworded), "lr")


def test_chinese_for_a_field_the_kind_no_longer_has_shows_up_as_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A kind's own (path-keyed) text for a field that was renamed or removed is reported."""
    spec = all_kinds()["lab.gan"]
    own = {**i18n.kind_text("lab.gan"), "fields": {"d_steps_old": "判别器每步的更新次数"}}
    monkeypatch.setattr(i18n, "kind_text", lambda kind: own)
    assert i18n.missing({"lab.gan": spec}) == [
        "lab.gan: zh text for a field that does not exist: d_steps_old"
    ]


def _links(markdown: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", markdown, flags=re.S)
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return re.findall(r"\]\(([^)\s]+)\)", prose)


def test_the_chinese_docs_link_to_files_that_exist() -> None:
    docs = sorted(ZH_DOCS.glob("*.md"))
    assert {d.name for d in docs} >= {
        "README.md",
        "lab.md",
        "your-data.md",
        "house-model.md",
        "architecture.md",
    }
    for doc in docs:
        for link in _links(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", link) or link.startswith("#"):
                continue
            target = (doc.parent / link.split("#", 1)[0]).resolve()
            assert target.exists(), f"{doc.name}: {link}"


def test_the_chinese_house_model_doc_holds_the_shipped_eval_report() -> None:
    from difflab.diffusion.model_card import render_docs_section

    doc = (ZH_DOCS / "house-model.md").read_text(encoding="utf-8")
    assert render_docs_section(doc, ROOT / "models" / "house") == doc, (
        "docs/zh/house-model.md is stale: python -m difflab.diffusion.model_card models/house "
        "docs/house-model.md docs/zh/house-model.md"
    )
