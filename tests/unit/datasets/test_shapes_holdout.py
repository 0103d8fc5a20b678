"""The held-out compositions of `shapes`: a stated set, and training data that never shows them."""

from __future__ import annotations

import itertools
import re
from collections import Counter

import pytest

from difflab.datasets.shapes import (
    COLORS,
    HELD_OUT_COMPOSITIONS,
    POSITIONS,
    SHAPES,
    ShapesDataset,
    composition,
    prompt_examples,
)

Triple = tuple[str, str, str]
_OBJECT = re.compile(rf"\b({'|'.join(COLORS)}) ({'|'.join(SHAPES)})\b")


def named(text: str) -> set[Triple]:
    """The (color, shape, position) of every object a caption names, read from its words
    alone (every caption form: canonical, paraphrases, two objects in either order)."""
    found = list(_OBJECT.finditer(text))
    if len(found) == 1:
        (position,) = [p for p in POSITIONS if p in text]
        return {(found[0][1], found[0][2], position)}
    assert len(found) == 2, text
    sides = []
    for m in found:
        after = text[m.end() :]
        if after.startswith((" on the left", " to the left of")):
            sides.append("on the left")
        elif after.startswith(" on the right") or text[: m.start()].endswith("to the left of a "):
            sides.append("on the right")
    assert sorted(sides) == ["on the left", "on the right"], text
    return {(m[1], m[2], side) for m, side in zip(found, sides, strict=True)}


def test_the_held_out_set_is_the_stated_diagonal() -> None:
    colors, positions = list(COLORS), list(POSITIONS)
    rule = [(colors[k % 6], SHAPES[k % 4], positions[k % 5]) for k in range(1, 13)]
    assert list(HELD_OUT_COMPOSITIONS) == rule
    assert len(set(HELD_OUT_COMPOSITIONS)) == 12  # 10% of the 120 triples
    # no two share a pair of attributes: each pair keeps all its other triples in training
    for a, b in itertools.combinations(HELD_OUT_COMPOSITIONS, 2):
        assert sum(x == y for x, y in zip(a, b, strict=True)) <= 1, (a, b)
    assert Counter(c for c, _, _ in HELD_OUT_COMPOSITIONS) == dict.fromkeys(COLORS, 2)
    assert Counter(s for _, s, _ in HELD_OUT_COMPOSITIONS) == dict.fromkeys(SHAPES, 3)
    assert set(Counter(p for _, _, p in HELD_OUT_COMPOSITIONS).values()) == {2, 3}
    # the prompts the studio offers (and the tests use) are not held out
    for example in prompt_examples():
        assert not named(example) & set(HELD_OUT_COMPOSITIONS), example


@pytest.mark.parametrize("split", ["train", "val"])
def test_with_holdout_no_scene_or_caption_holds_a_held_out_composition(split: str) -> None:
    n = 2500
    held = ShapesDataset(n, split=split, seed=0, holdout="compositions")  # type: ignore[arg-type]
    full = ShapesDataset(n, split=split, seed=0)  # type: ignore[arg-type]
    assert len(held) == n
    seen: set[Triple] = set()
    resampled = 0
    for i, text in enumerate(held.captions()):
        scene, _ = held.scene(i)
        objects = {composition(o) for o in scene.objects}
        assert named(text) == objects, text  # the caption says what the scene holds
        assert not objects & set(HELD_OUT_COMPOSITIONS), (i, text)
        seen |= objects
        original, _ = full.scene(i)
        assert len(original.objects) == len(scene.objects)  # the object count is kept
        if original.held_out():
            resampled += 1
        else:  # only scenes that held one are drawn again
            assert original == scene
    assert 0.08 * n < resampled < 0.2 * n  # 10% of one-object, ~20% of two-object scenes
    # every color, shape and position, and every pair of them, still occurs in training
    assert {c for c, _, _ in seen} == set(COLORS)
    assert {s for _, s, _ in seen} == set(SHAPES)
    assert {p for _, _, p in seen} == set(POSITIONS)
    for i, j in itertools.combinations(range(3), 2):
        pairs = {(t[i], t[j]) for t in seen}
        everything = {(t[i], t[j]) for t in itertools.product(COLORS, SHAPES, POSITIONS)}
        assert pairs == everything
    assert len(seen) == 120 - 12


def test_without_holdout_the_held_out_compositions_occur() -> None:
    ds = ShapesDataset(600, seed=0)
    shown = {composition(o) for i in range(600) for o in ds.scene(i)[0].objects}
    assert set(HELD_OUT_COMPOSITIONS) <= shown


def test_the_held_out_split_is_deterministic_and_checks_its_option() -> None:
    a = ShapesDataset(40, seed=5, holdout="compositions")
    b = ShapesDataset(40, seed=5, holdout="compositions")
    assert a.captions() == b.captions()
    assert a[7].image.tobytes() == b[7].image.tobytes() and a[7].scene == b[7].scene
    with pytest.raises(ValueError, match="holdout"):
        ShapesDataset(4, holdout="colors")  # type: ignore[arg-type]
