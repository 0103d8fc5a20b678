"""Prompt adherence on `shapes`: a fixed prompt set and an attribute classifier.

The classifier is a small CNN trained on the dataset's ground truth. One trunk, seven
heads: for one-object images the color, shape and position of the object; for two-object
images the color and shape of the left and of the right object. Each head is a softmax
classifier trained with cross-entropy on the images where it applies. It is trained once
and cached as safetensors; its accuracy on held-out real images is the ceiling of what a
generated image can score.

Composition is measured on a second prompt set made only of `HELD_OUT_COMPOSITIONS` (the
color x shape x position triples a model trained with holdout="compositions" never saw):
`held_out_prompt_set` and `held_out_score`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from difflab.datasets.shapes import (
    COLORS,
    HELD_OUT_COMPOSITIONS,
    POSITIONS,
    SHAPES,
    TWO_OBJECT_POSITIONS,
    Holdout,
    Scene,
    ShapeObject,
    ShapesDataset,
    canonical_caption,
    composition,
    sample_scene,
)
from difflab.diffusion.train_common import pil_to_tensor, step_generator

COLOR_NAMES, SHAPE_NAMES, POSITION_NAMES = list(COLORS), list(SHAPES), list(POSITIONS)
HEADS = {  # head name -> number of classes
    "color": len(COLOR_NAMES),
    "shape": len(SHAPE_NAMES),
    "position": len(POSITION_NAMES),
    "left_color": len(COLOR_NAMES),
    "left_shape": len(SHAPE_NAMES),
    "right_color": len(COLOR_NAMES),
    "right_shape": len(SHAPE_NAMES),
}
CLASSIFIER_FILE = "shapes_attributes_v1.safetensors"


@dataclass(frozen=True)
class Prompt:
    text: str
    scene: Scene  # the ground truth the prompt asks for
    seed: int


def _one_object(rng: random.Random, c: str, s: str, pos: str) -> tuple[Scene, str]:
    """A one-object scene of (c, s, pos) (size, background and jitter drawn) and its caption."""
    base = sample_scene(rng, two_objects=False)
    o = base.objects[0]
    (fx, fy), (ox, oy) = POSITIONS[pos], POSITIONS[o.position]
    cx, cy = o.cx + 64 * (fx - ox), o.cy + 64 * (fy - oy)  # move it to the asked place
    obj = ShapeObject(color=c, shape=s, position=pos, size=o.size, cx=cx, cy=cy)
    scene = Scene(objects=(obj,), background=base.background)
    text = canonical_caption(scene, size_word=rng.random() < 0.5, background=rng.random() < 0.5)
    return scene, text


def prompt_set(
    n_one: int,
    n_two: int,
    seeds_per_prompt: int = 1,
    seed: int = 1234,
    holdout: Holdout = "none",
) -> list[Prompt]:
    """A fixed set of canonical prompts: one-object prompts cycle through every
    (color, shape, position) triple in a shuffled order; two-object prompts are random.
    With holdout="compositions" the held-out compositions are left out: the in-distribution
    set of a model trained without them."""
    rng = random.Random(f"prompt-set/{seed}")
    triples = [(c, s, p) for c in COLOR_NAMES for s in SHAPE_NAMES for p in POSITION_NAMES]
    rng.shuffle(triples)
    if holdout == "compositions":
        triples = [t for t in triples if t not in HELD_OUT_COMPOSITIONS]
    prompts: list[Prompt] = []
    for i in range(n_one):
        scene, text = _one_object(rng, *triples[i % len(triples)])
        prompts += [
            Prompt(text, scene, seed * 1000 + i * seeds_per_prompt + k)
            for k in range(seeds_per_prompt)
        ]
    for i in range(n_two):
        scene = sample_scene(rng, two_objects=True, holdout=holdout)
        text = canonical_caption(scene, background=rng.random() < 0.5)
        prompts += [
            Prompt(text, scene, seed * 1000 + 500_000 + i * seeds_per_prompt + k)
            for k in range(seeds_per_prompt)
        ]
    return prompts


def held_out_prompt_set(
    n_one: int, n_two: int, seeds_per_prompt: int = 1, seed: int = 1234
) -> list[Prompt]:
    """A fixed set of canonical prompts of the held-out compositions only: one-object prompts
    cycle through all of them in a shuffled order; each two-object prompt puts one of those on
    the left or the right (cycling through the ones whose position is a side) beside an object
    that is not held out."""
    rng = random.Random(f"held-out-set/{seed}")
    one = list(HELD_OUT_COMPOSITIONS)
    rng.shuffle(one)
    prompts: list[Prompt] = []
    for i in range(n_one):
        scene, text = _one_object(rng, *one[i % len(one)])
        prompts += [
            Prompt(text, scene, seed * 1000 + 700_000 + i * seeds_per_prompt + k)
            for k in range(seeds_per_prompt)
        ]
    sides = [t for t in HELD_OUT_COMPOSITIONS if t[2] in TWO_OBJECT_POSITIONS]
    rng.shuffle(sides)
    for i in range(n_two):
        c, s, pos = sides[i % len(sides)]
        base = sample_scene(rng, two_objects=True, holdout="compositions")
        k = TWO_OBJECT_POSITIONS.index(pos)
        objects = list(base.objects)
        objects[k] = replace(objects[k], color=c, shape=s)
        scene = Scene(objects=tuple(objects), background=base.background)
        text = canonical_caption(scene, background=rng.random() < 0.5)
        prompts += [
            Prompt(text, scene, seed * 1000 + 800_000 + i * seeds_per_prompt + j)
            for j in range(seeds_per_prompt)
        ]
    return prompts


class AttributeClassifier(nn.Module):
    """(B, 3, 64, 64) in [-1, 1] -> logits of every head."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.trunk = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(w, w, 3, stride=2, padding=1),
            nn.ReLU(),  # 32x32
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),  # 16x16
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),  # 8x8
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),
            nn.ReLU(),  # 4x4: keeps where
            nn.Flatten(),
            nn.Linear(2 * w * 16, 256),
            nn.ReLU(),
        )
        self.heads = nn.ModuleDict({k: nn.Linear(256, n) for k, n in HEADS.items()})

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 256) trunk features: the feature space of eval's FID."""
        return self.trunk(F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.features(x)
        return {k: head(h) for k, head in self.heads.items()}


def targets(scenes: list[Scene]) -> dict[str, torch.Tensor]:
    """Class index per head and image; -100 (ignored by cross-entropy) where it does not apply."""
    t = {k: torch.full((len(scenes),), -100, dtype=torch.long) for k in HEADS}
    for i, s in enumerate(scenes):
        if len(s.objects) == 1:
            o = s.objects[0]
            t["color"][i] = COLOR_NAMES.index(o.color)
            t["shape"][i] = SHAPE_NAMES.index(o.shape)
            t["position"][i] = POSITION_NAMES.index(o.position)
        else:
            left, right = s.objects
            t["left_color"][i] = COLOR_NAMES.index(left.color)
            t["left_shape"][i] = SHAPE_NAMES.index(left.shape)
            t["right_color"][i] = COLOR_NAMES.index(right.color)
            t["right_shape"][i] = SHAPE_NAMES.index(right.shape)
    return t


def _shapes_batch(ds: ShapesDataset, idx: list[int]) -> tuple[torch.Tensor, list[Scene]]:
    items = [ds[i] for i in idx]
    return pil_to_tensor([it.image for it in items]), [it.scene for it in items]


def train_classifier(
    steps: int = 600, batch_size: int = 64, seed: int = 0, device: str = "cpu"
) -> AttributeClassifier:
    """Train on rendered shapes; light blur and noise make it robust to decoded images."""
    torch.manual_seed(seed)
    ds = ShapesDataset(1_000_000, split="train", seed=seed + 77)
    model = AttributeClassifier().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for step in range(steps):
        g = step_generator(seed, step)
        x, scenes = _shapes_batch(ds, torch.randint(len(ds), (batch_size,), generator=g).tolist())
        if step % 2 == 1:  # blur half the batches a little: decoded images are softer
            x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = x + 0.05 * torch.randn(x.shape, generator=g)
        for group in opt.param_groups:
            group["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
        logits = model(x.to(device))
        t = targets(scenes)
        loss = sum(
            F.cross_entropy(logits[k], t[k].to(device), ignore_index=-100)
            for k in HEADS
            if (t[k] >= 0).any()
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[union-attr]
        opt.step()
    return model.eval()


def load_or_train_classifier(cache_dir: Path, device: str = "cpu") -> AttributeClassifier:
    """The cached classifier, trained and cached first if missing."""
    path = cache_dir / CLASSIFIER_FILE
    model = AttributeClassifier()
    if path.exists():
        model.load_state_dict(load_file(str(path)))
        return model.to(device).eval()
    model = train_classifier(device=device)
    save_classifier(model, cache_dir)
    return model


def save_classifier(model: AttributeClassifier, cache_dir: Path) -> Path:
    """Write the classifier's weights to the cache (temp file, then rename)."""
    path = cache_dir / CLASSIFIER_FILE
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path)
    return path


@torch.no_grad()
def score(
    classifier: AttributeClassifier, images: list[Image.Image], scenes: list[Scene]
) -> dict[str, Any]:
    """Adherence of images to the scenes they were asked for.

    one-object: color, shape and position accuracy, and all-three-right rate;
    two-object: both-objects-right rate (color and shape of both) and per-attribute rates.
    """
    dev = next(classifier.parameters()).device
    preds: dict[str, list[int]] = {k: [] for k in HEADS}
    for start in range(0, len(images), 128):
        x = pil_to_tensor(images[start : start + 128]).to(dev)
        for k, v in classifier(x).items():
            preds[k] += v.argmax(dim=1).tolist()
    t = targets(scenes)
    one = [i for i, s in enumerate(scenes) if len(s.objects) == 1]
    two = [i for i, s in enumerate(scenes) if len(s.objects) == 2]

    def right(head: str, i: int) -> bool:
        return preds[head][i] == int(t[head][i])

    out: dict[str, Any] = {"n_one": len(one), "n_two": len(two)}
    if one:
        for k in ("color", "shape", "position"):
            out[f"one/{k}"] = sum(right(k, i) for i in one) / len(one)
        out["one/all"] = sum(
            all(right(k, i) for k in ("color", "shape", "position")) for i in one
        ) / len(one)
    if two:
        heads = ("left_color", "left_shape", "right_color", "right_shape")
        for k in heads:
            out[f"two/{k}"] = sum(right(k, i) for i in two) / len(two)
        out["two/both"] = sum(all(right(k, i) for k in heads) for i in two) / len(two)
    out["predictions"] = preds
    return out


def held_out_score(
    classifier: AttributeClassifier, images: list[Image.Image], scenes: list[Scene]
) -> dict[str, Any]:
    """`score` plus, over every held-out object of the scenes: its color right, its shape
    right, and `composition/all`, both attributes right at the asked position (one object: the
    position head also right; two objects: the head of its side read both right)."""
    out = score(classifier, images, scenes)
    preds, t = out.pop("predictions"), targets(scenes)
    rows: list[tuple[bool, bool, bool]] = []
    for i, sc in enumerate(scenes):
        for o, (c, s, where) in zip(sc.objects, _heads_of(len(sc.objects)), strict=True):
            if composition(o) not in HELD_OUT_COMPOSITIONS:
                continue
            right = {h: preds[h][i] == int(t[h][i]) for h in (c, s, where) if h}
            rows.append((right[c], right[s], all(right.values())))
    out["n_held_out_objects"] = len(rows)
    if rows:
        for j, k in enumerate(("color", "shape", "all")):
            out[f"composition/{k}"] = sum(r[j] for r in rows) / len(rows)
    return out


def _heads_of(n_objects: int) -> list[tuple[str, str, str]]:
    """The (color, shape, position) heads reading each object of an n-object scene; a side
    object's position is the side its heads read ("")."""
    if n_objects == 1:
        return [("color", "shape", "position")]
    return [("left_color", "left_shape", ""), ("right_color", "right_shape", "")]
