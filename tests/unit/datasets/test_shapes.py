"""The procedural shapes dataset: deterministic, captioned to the grammar, true to its scene."""

from __future__ import annotations

import random
import re

import numpy as np

from difflab.datasets.registry import list_datasets, sample_grid
from difflab.datasets.shapes import (
    BACKGROUNDS,
    COLORS,
    POSITIONS,
    SHAPES,
    ShapesDataset,
    canonical_caption,
    caption,
    prompt_examples,
    prompt_words,
    render,
    sample_scene,
)

C, S, P, B = (
    "|".join(COLORS),
    "|".join(SHAPES),
    "|".join(POSITIONS),
    "|".join(BACKGROUNDS),
)
ONE = re.compile(rf"^a (small |large )?({C}) ({S}) ({P})( on a ({B}) background)?$")
TWO = re.compile(
    rf"^a ({C}) ({S}) on the left and a ({C}) ({S}) on the right( on a ({B}) background)?$"
)


def test_samples_are_deterministic_and_splits_differ() -> None:
    a, b = ShapesDataset(50, seed=3), ShapesDataset(50, seed=3)
    val = ShapesDataset(50, split="val", seed=3)
    for i in (0, 7, 49):
        x, y = a[i], b[i]
        assert x.caption == y.caption and x.scene == y.scene
        assert x.image.tobytes() == y.image.tobytes()
    assert [a[i].caption for i in range(20)] != [val[i].caption for i in range(20)]
    assert [a[i].scene for i in range(20)] != [
        ShapesDataset(50, seed=4)[i].scene for i in range(20)
    ]


def test_images_are_64px_rgb_and_match_the_scene() -> None:
    ds = ShapesDataset(60, seed=1, paraphrase_fraction=0.0)
    for i in range(60):
        s = ds[i]
        assert s.image.size == (64, 64) and s.image.mode == "RGB"
        arr = np.asarray(s.image)
        assert tuple(arr[0, 0]) == BACKGROUNDS[s.scene.background]  # corners are background
        for o in s.scene.objects:  # the object's centre pixel has its color
            assert tuple(arr[round(o.cy), round(o.cx)]) == COLORS[o.color]


def test_canonical_captions_follow_the_two_mandatory_forms() -> None:
    ds = ShapesDataset(300, seed=2, paraphrase_fraction=0.0)
    n_two = 0
    for i in range(300):
        s = ds[i]
        form = TWO if len(s.scene.objects) == 2 else ONE
        m = form.match(s.caption)
        assert m, s.caption
        if len(s.scene.objects) == 2:
            n_two += 1
            left, right = s.scene.objects
            assert (m[1], m[2], m[3], m[4]) == (left.color, left.shape, right.color, right.shape)
            assert left.cx < 32 < right.cx
        else:
            o = s.scene.objects[0]
            assert (m[2], m[3], m[4]) == (o.color, o.shape, o.position)
            assert m[1] is None or m[1].strip() == o.size
        if "background" in s.caption:
            assert s.caption.endswith(f" on a {s.scene.background} background")
    assert 60 < n_two < 180  # two_object_fraction 0.4


def test_paraphrases_name_every_attribute() -> None:
    rng = random.Random(0)
    texts = set()
    for _ in range(400):
        scene = sample_scene(rng, two_objects=rng.random() < 0.5)
        text = caption(scene, rng, paraphrase_fraction=1.0)
        texts.add(text)
        assert text != canonical_caption(scene) or "there" in text
        for o in scene.objects:
            assert o.color in text and o.shape in text
    assert len(texts) > 100


def test_objects_are_drawn_where_the_caption_says() -> None:
    rng = random.Random(5)
    seen = set()
    for _ in range(100):
        scene = sample_scene(rng, two_objects=False)
        o = scene.objects[0]
        seen.add(o.position)
        img = np.asarray(render(scene))
        ys, xs = np.nonzero(np.any(img != np.array(BACKGROUNDS[scene.background]), axis=-1))
        fx, fy = POSITIONS[o.position]
        # a triangle's mass sits low: allow for it vertically
        assert abs(xs.mean() - fx * 64) < 4 and abs(ys.mean() - fy * 64) < 6, o
    assert seen == set(POSITIONS)


def test_registry_lists_datasets_and_draws_a_grid() -> None:
    names = [d["name"] for d in list_datasets()]
    assert "shapes" in names and "imagefolder" in names
    assert all(d["description"] for d in list_datasets())
    grid = sample_grid("shapes", n=16, seed=0)
    assert grid.size == (4 * 64, 4 * 64)
    assert grid.tobytes() == sample_grid("shapes", n=16, seed=0).tobytes()


def test_the_studio_offers_the_grammar_and_prompts_of_its_forms() -> None:
    """The prompt box's words and examples (GET /models for the house model) come from the
    grammar: every example is a canonical caption, every canonical caption's words are offered."""
    examples, words = prompt_examples(), prompt_words()
    assert all(ONE.match(e) or TWO.match(e) for e in examples), examples
    assert any(TWO.match(e) for e in examples) and any(ONE.match(e) for e in examples)
    ds = ShapesDataset(200, seed=3, paraphrase_fraction=0.0)
    used = {w for i in range(200) for w in ds[i].caption.split()}
    assert used <= set(words) and len(words) == len(set(words))
    assert "above" not in words  # a relation the model never learned is not suggested
