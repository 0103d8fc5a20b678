"""The built-in `shapes` dataset: captioned 64x64 images of one or two flat shapes.

Every sample is a pure function of (seed, split, index): a scene is drawn from a
`random.Random` seeded with that triple, rendered with PIL and captioned from a fixed
grammar. The train and val splits are disjoint streams of the same distribution. The scene
(colors, shapes, positions, sizes, background) is kept as ground truth for evaluation.

Caption forms that always occur (the canonical forms):
    a [small |large ]{color} {shape} {position}[ on a {background} background]
    a {color} {shape} on the left and a {color} {shape} on the right[ on a {background} background]
plus a few paraphrases of each (a fraction `paraphrase_fraction` of the captions).

With `holdout="compositions"` no sample holds an object of `HELD_OUT_COMPOSITIONS`: a scene
that would is drawn again from the same stream, so the split keeps its size and every sample
stays a pure function of (seed, split, index, holdout).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 30),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (140, 50, 180),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
SIZES: dict[str, int] = {"small": 6, "medium": 9, "large": 13}  # half extent in pixels at 64 px
POSITIONS: dict[str, tuple[float, float]] = {  # object centre as a fraction of the image side
    "on the left": (0.25, 0.5),
    "on the right": (0.75, 0.5),
    "at the top": (0.5, 0.25),
    "at the bottom": (0.5, 0.75),
    "in the center": (0.5, 0.5),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "black": (0, 0, 0),
}
TWO_OBJECT_POSITIONS = ("on the left", "on the right")
Split = Literal["train", "val"]
Holdout = Literal["none", "compositions"]
HOLDOUTS: tuple[Holdout, ...] = ("none", "compositions")

# (color, shape, position) triples that training with holdout="compositions" never shows; eval
# asks for them to measure composition. Chosen by a rule, not by hand: k = 1..12 of the
# diagonal k -> (COLORS[k % 6], SHAPES[k % 4], POSITIONS[k % 5]), 12 of the 120 triples (10%).
# - 12 consecutive k give 12 distinct (color, shape) pairs (lcm(6, 4) = 12); triples sharing a
#   color are 6 apart and those sharing a shape 4 or 8 apart, never a multiple of 5, so no two
#   share a (color, position) or a (shape, position) pair either. Each pair of attributes
#   therefore loses at most one of its 4 to 6 triples: every color, shape and position, and
#   every pair of them, still occurs in training; only these exact triples are new.
# - Each color is held out twice, each shape three times, each position two or three times;
#   5 triples stand on the left or the right, so two-object scenes are held out too.
# - k = 0 (a red circle on the left) is left out: it is the prompt of the examples and tests,
#   and none of prompt_examples() is held out.
HELD_OUT_COMPOSITIONS: tuple[tuple[str, str, str], ...] = (
    ("orange", "square", "on the right"),
    ("yellow", "triangle", "at the top"),
    ("green", "diamond", "at the bottom"),
    ("blue", "circle", "in the center"),
    ("purple", "square", "on the left"),
    ("red", "triangle", "on the right"),
    ("orange", "diamond", "at the top"),
    ("yellow", "circle", "at the bottom"),
    ("green", "square", "in the center"),
    ("blue", "triangle", "on the left"),
    ("purple", "diamond", "on the right"),
    ("red", "circle", "at the top"),
)
_HELD_OUT = frozenset(HELD_OUT_COMPOSITIONS)
_RENDER_SCALE = 4  # draw at 4x and downsample with a box filter: anti-aliased edges


@dataclass(frozen=True)
class ShapeObject:
    """One flat, unrotated object of a scene."""

    color: str
    shape: str
    position: str
    size: str
    cx: float  # centre in pixels (at the dataset resolution)
    cy: float


@dataclass(frozen=True)
class Scene:
    """Ground truth of one image: its objects (left before right) and its background."""

    objects: tuple[ShapeObject, ...]
    background: str

    def attributes(self) -> dict[str, Any]:
        return {
            "background": self.background,
            "objects": [
                {"color": o.color, "shape": o.shape, "position": o.position, "size": o.size}
                for o in self.objects
            ],
        }

    def held_out(self) -> bool:
        """Whether an object of the scene is one of HELD_OUT_COMPOSITIONS."""
        return any(composition(o) in _HELD_OUT for o in self.objects)


def composition(o: ShapeObject) -> tuple[str, str, str]:
    """(color, shape, position) of an object."""
    return (o.color, o.shape, o.position)


@dataclass(frozen=True)
class ShapesSample:
    image: Image.Image  # RGB, resolution x resolution
    caption: str
    scene: Scene


def sample_scene(
    rng: random.Random,
    two_objects: bool,
    resolution: int = 64,
    jitter: float = 2.0,
    holdout: Holdout = "none",
) -> Scene:
    """Draw a scene: uniform colors, shapes, positions, sizes and backgrounds. With
    holdout="compositions", scenes holding a held-out composition are drawn again (from `rng`,
    so uniform over the others)."""
    scene = _draw_scene(rng, two_objects, resolution, jitter)
    while holdout == "compositions" and scene.held_out():
        scene = _draw_scene(rng, two_objects, resolution, jitter)
    return scene


def _draw_scene(rng: random.Random, two_objects: bool, resolution: int, jitter: float) -> Scene:
    scale = resolution / 64.0
    background = rng.choice(list(BACKGROUNDS))
    positions = TWO_OBJECT_POSITIONS if two_objects else (rng.choice(list(POSITIONS)),)
    objects = []
    for position in positions:
        fx, fy = POSITIONS[position]
        size = "medium" if two_objects else rng.choice(list(SIZES))
        objects.append(
            ShapeObject(
                color=rng.choice(list(COLORS)),
                shape=rng.choice(SHAPES),
                position=position,
                size=size,
                cx=fx * resolution + rng.uniform(-jitter, jitter) * scale,
                cy=fy * resolution + rng.uniform(-jitter, jitter) * scale,
            )
        )
    return Scene(objects=tuple(objects), background=background)


def render(scene: Scene, resolution: int = 64) -> Image.Image:
    """Draw the scene with PIL at 4x and downsample: flat colors, anti-aliased edges."""
    big = resolution * _RENDER_SCALE
    img = Image.new("RGB", (big, big), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    unit = resolution / 64.0 * _RENDER_SCALE
    for o in scene.objects:
        x, y, h = o.cx * _RENDER_SCALE, o.cy * _RENDER_SCALE, SIZES[o.size] * unit
        fill = COLORS[o.color]
        if o.shape == "circle":
            draw.ellipse((x - h, y - h, x + h, y + h), fill=fill)
        elif o.shape == "square":
            s = h * 0.9  # a square looks bigger than a circle of the same extent
            draw.rectangle((x - s, y - s, x + s, y + s), fill=fill)
        elif o.shape == "triangle":  # pointing up
            draw.polygon([(x, y - h), (x + h, y + h * 0.8), (x - h, y + h * 0.8)], fill=fill)
        else:  # diamond: a square standing on a corner
            draw.polygon([(x, y - h), (x + h, y), (x, y + h), (x - h, y)], fill=fill)
    return img.resize((resolution, resolution), Image.Resampling.BOX)


def _background_phrase(scene: Scene) -> str:
    return f" on a {scene.background} background"


def canonical_caption(scene: Scene, size_word: bool = True, background: bool = True) -> str:
    """The mandatory caption form of a scene (one or two objects)."""
    bg = _background_phrase(scene) if background else ""
    if len(scene.objects) == 2:
        left, right = scene.objects
        return (
            f"a {left.color} {left.shape} on the left and a {right.color} {right.shape}"
            f" on the right{bg}"
        )
    (o,) = scene.objects
    size = f"{o.size} " if size_word and o.size != "medium" else ""
    return f"a {size}{o.color} {o.shape} {o.position}{bg}"


def caption(scene: Scene, rng: random.Random, paraphrase_fraction: float = 0.15) -> str:
    """A caption of the scene: the canonical form (optional words drawn at random) or,
    with probability `paraphrase_fraction`, a paraphrase."""
    size_word = rng.random() < 0.5
    bg = _background_phrase(scene) if rng.random() < 0.5 else ""
    if rng.random() >= paraphrase_fraction:
        return canonical_caption(scene, size_word=size_word, background=bool(bg))
    if len(scene.objects) == 2:
        left, right = scene.objects
        lw, rw = f"{left.color} {left.shape}", f"{right.color} {right.shape}"
        forms = [
            f"a {lw} to the left of a {rw}{bg}",
            f"a {rw} on the right and a {lw} on the left{bg}",
            f"there is a {lw} on the left and a {rw} on the right{bg}",
        ]
        return rng.choice(forms)
    (o,) = scene.objects
    size = f"{o.size} " if size_word and o.size != "medium" else ""
    w = f"{size}{o.color} {o.shape}"
    forms = [
        f"there is a {w} {o.position}{bg}",
        f"a picture of a {w} {o.position}{bg}",
        f"{o.position}, a {w}{bg}",
    ]
    return rng.choice(forms)


class ShapesDataset:
    """`num_samples` captioned images; sample i of a split depends on (seed, split, i) only
    (and `holdout`: with "compositions", no scene holds a HELD_OUT_COMPOSITIONS triple; the
    number of objects is drawn first and kept, so two_object_fraction holds as well)."""

    name = "shapes"
    description = (
        "Procedural 64x64 images of one or two flat shapes (6 colors, 4 shapes, 5 positions, "
        "3 backgrounds) with captions from a fixed grammar and ground-truth attributes."
    )

    def __init__(
        self,
        num_samples: int = 10_000,
        split: Split = "train",
        seed: int = 0,
        resolution: int = 64,
        two_object_fraction: float = 0.4,
        paraphrase_fraction: float = 0.15,
        holdout: Holdout = "none",
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', not {split!r}")
        if holdout not in HOLDOUTS:
            raise ValueError(f"holdout must be one of {', '.join(HOLDOUTS)}, not {holdout!r}")
        self.holdout = holdout
        self.num_samples = num_samples
        self.split = split
        self.seed = seed
        self.resolution = resolution
        self.two_object_fraction = two_object_fraction
        self.paraphrase_fraction = paraphrase_fraction

    def __len__(self) -> int:
        return self.num_samples

    def rng(self, index: int) -> random.Random:
        # str seeds are hashed with SHA-512 by `random`: stable across processes and runs
        return random.Random(f"shapes/{self.split}/{self.seed}/{index}")

    def scene(self, index: int) -> tuple[Scene, random.Random]:
        if not 0 <= index < self.num_samples:
            raise IndexError(index)
        rng = self.rng(index)
        two = rng.random() < self.two_object_fraction
        return sample_scene(rng, two, self.resolution, holdout=self.holdout), rng

    def __getitem__(self, index: int) -> ShapesSample:
        scene, rng = self.scene(index)
        text = caption(scene, rng, self.paraphrase_fraction)
        return ShapesSample(image=render(scene, self.resolution), caption=text, scene=scene)

    def captions(self) -> list[str]:
        """All captions, without rendering (for building a tokenizer)."""
        out = []
        for i in range(self.num_samples):
            scene, rng = self.scene(i)
            out.append(caption(scene, rng, self.paraphrase_fraction))
        return out


def prompt_words() -> list[str]:
    """The grammar's words, in the order a prompt uses them: sizes, colors, shapes, position
    and background words."""
    words = ["a", "small", "large", *COLORS, *SHAPES]
    for phrase in (*POSITIONS, "and", "on a", *BACKGROUNDS, "background"):
        words.extend(w for w in phrase.split() if w not in words)
    return words


def prompt_examples() -> list[str]:
    """One prompt of each canonical form (what the house model was trained to draw)."""
    return [
        "a red circle on the left",
        "a small blue square at the top",
        "a large yellow triangle in the center on a black background",
        "a green diamond on the left and a purple circle on the right",
    ]


def vocabulary_sentences() -> list[str]:
    """Every word of the grammar at least once, in each canonical form (the tokenizer's extra
    corpus: it names held-out compositions too, but only teaches word pieces; no image is
    paired with these sentences)."""
    out = []
    for color in COLORS:
        for shape in SHAPES:
            for position in POSITIONS:
                out.append(f"a small {color} {shape} {position}")
                out.append(f"a large {color} {shape} {position} on a white background")
            out.append(f"a {color} {shape} on the left and a {color} {shape} on the right")
    for bg in BACKGROUNDS:
        out.append(f"there is a picture of a shape to the left of a shape on a {bg} background")
    return out
