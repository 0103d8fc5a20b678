"""`eval`: how well a model follows shapes prompts, and how real its images look.

A fixed set of canonical prompts x seeds is generated with DDIM (25 steps by default) at the
model's default guidance. Reported, with the sha256 of the weights measured:
- prompt adherence by the attribute classifier (eval_adherence): color, shape and position
  accuracy for one object, both-objects-right rate for two;
- FID in the attribute classifier's trunk features (a network trained on renders, not on the
  model): generated images against an independent reference set of renders (the prompt
  grammar with another seed), beside the floor, renders of the asked scenes against the same
  reference (two samples of one distribution); the ratio with a bootstrap spread;
- CLIP score with the model's own CLIP: mean of max(100 cos(image, text), 0), labelled as
  self-consistency, since that encoder is the one the model was trained with.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field
from transformers import CLIPModel

from difflab.datasets.shapes import render
from difflab.diffusion.eval_adherence import (
    COLOR_NAMES,
    POSITION_NAMES,
    AttributeClassifier,
    load_or_train_classifier,
    prompt_set,
    score,
    targets,
)
from difflab.diffusion.eval_fid import fid_ratio_with_spread
from difflab.diffusion.eval_generate import generate, load_pipeline
from difflab.diffusion.model_card import EVAL_FILE, hardware, write_card, write_json
from difflab.diffusion.models import ModelError, default_guidance, resolve_model, weights_digest
from difflab.diffusion.train_clip import tokenize
from difflab.diffusion.train_common import image_grid, model_dir, pil_to_tensor, setup_device
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext

TARGETS = {"one/color": 0.95, "one/shape": 0.90, "one/position": 0.95, "two/both": 0.70}
FID_RATIO_TARGET = 3.0


class Params(BaseModel):
    """Parameters of `eval`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("house", description="Model directory name under the models dir.")
    n_one: int = Field(240, ge=0, le=10_000, description="One-object prompts.")
    n_two: int = Field(160, ge=0, le=10_000, description="Two-object prompts.")
    seeds_per_prompt: int = Field(1, ge=1, le=64, description="Images per prompt.")
    steps: int = Field(25, ge=1, le=200, description="DDIM steps.")
    guidance_scale: float = Field(
        -1.0, ge=-1.0, le=30.0, description="CFG scale; -1 uses the model's default."
    )
    batch_size: int = Field(100, ge=1, le=1024, description="Images per pipeline call.")
    seed: int = Field(1234, ge=0, le=2**31 - 1, description="Seed of the prompt set.")
    cpu_threads: int = Field(0, ge=0, le=256, description="CPU only: torch threads; 0 = all.")
    save_report: bool = Field(
        False,
        description="Also write the report as eval.json into the model directory and rewrite "
        "its model card (README.md) with it.",
    )


@torch.no_grad()
def classifier_features(clf: AttributeClassifier, images: list[Image.Image]) -> np.ndarray:
    """(N, 256) attribute-classifier trunk features of images."""
    feats = [clf.features(pil_to_tensor(images[s : s + 256])) for s in range(0, len(images), 256)]
    return torch.cat(feats).float().numpy()


@torch.no_grad()
def clip_features(
    clip: CLIPModel, tokenizer: Any, images: list[Image.Image], texts: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """(pooled image-tower features (N, D), CLIP scores (N,)) of images and their prompts."""
    feats, scores = [], []
    for s in range(0, len(images), 128):
        x = pil_to_tensor(images[s : s + 128])
        vis = clip.vision_model(pixel_values=x)
        feats.append(vis.pooler_output.float())
        img = clip.visual_projection(vis.pooler_output)
        txt = clip.get_text_features(input_ids=tokenize(tokenizer, texts[s : s + 128]))
        txt = txt if isinstance(txt, torch.Tensor) else txt.pooler_output
        cos = torch.nn.functional.cosine_similarity(img.float(), txt.float(), dim=-1)
        scores.append((100 * cos).clamp(min=0))
    return torch.cat(feats).numpy(), torch.cat(scores).numpy()


def confusion(true: list[int], pred: list[int], labels: list[str], title: str) -> dict[str, Any]:
    m = np.zeros((len(labels), len(labels)), dtype=int)
    for t, p in zip(true, pred, strict=True):
        m[t, p] += 1
    return {"matrix": m.tolist(), "x_labels": labels, "y_labels": labels, "title": title}


def evaluate(path: Path, p: Params, sink: Sink, device: str, cache_dir: Path) -> dict[str, Any]:
    """Generate the prompt set with the model at `path` and score it; returns the report."""
    t0 = time.perf_counter()
    guidance = p.guidance_scale if p.guidance_scale >= 0 else default_guidance(path)
    pipe = load_pipeline(path, device)
    prompts = prompt_set(p.n_one, p.n_two, p.seeds_per_prompt, seed=p.seed)
    texts, scenes = [q.text for q in prompts], [q.scene for q in prompts]
    images: list[Image.Image] = []
    for s in range(0, len(prompts), p.batch_size):
        sink.check()
        chunk = prompts[s : s + p.batch_size]
        images += generate(
            pipe,
            [q.text for q in chunk],
            [q.seed for q in chunk],
            p.steps,
            guidance,
            batch_size=p.batch_size,
        )
        sink.progress(len(images), len(prompts), "generating")
    gen_wall = time.perf_counter() - t0

    clf = load_or_train_classifier(cache_dir, "cpu")
    adherence = score(clf, images, scenes)
    preds = adherence.pop("predictions")
    size = images[0].size  # real images at the model's resolution
    # real twins of the generated set (the asked scenes, rendered) and an independent reference
    # set from the same prompt grammar with another seed: FID(generated, reference) is set
    # beside the floor FID(real twins, reference), two sets of one distribution
    real_a = [render(sc).resize(size, Image.Resampling.BOX) for sc in scenes]
    ref_prompts = prompt_set(p.n_one, p.n_two, p.seeds_per_prompt, seed=p.seed + 1)
    real_b = [render(q.scene).resize(size, Image.Resampling.BOX) for q in ref_prompts]
    real_adherence = score(clf, real_a, scenes)
    real_adherence.pop("predictions")

    report: dict[str, Any] = {
        "model": path.name,
        "weights": weights_digest(path),
        "hardware": hardware(torch.device(device)),
        "n_images": len(images),
        "steps": p.steps,
        "guidance_scale": guidance,
        "sampler": "DDIM",
        "seed": p.seed,
        "adherence": adherence,
        "classifier_on_real": real_adherence,
    }
    if len(images) >= 2:
        gen_f, real_f, ref_f = (classifier_features(clf, x) for x in (images, real_a, real_b))
        report["fid"] = {
            **fid_ratio_with_spread(gen_f, real_f, ref_f, seed=p.seed),
            "n_generated": len(images),
            "n_real": len(real_a),
            "n_reference": len(real_b),
            "features": "attribute-classifier trunk, 256-d, trained on renders, not on the model",
        }
    clip_dir = path / "clip"
    if clip_dir.exists():
        clip = CLIPModel.from_pretrained(clip_dir).eval()
        _, gen_s = clip_features(clip, pipe.tokenizer, images, texts)
        _, a_s = clip_features(clip, pipe.tokenizer, real_a, texts)
        report["clip_score"] = {
            "generated": float(gen_s.mean()),
            "real": float(a_s.mean()),
            "encoder": "the model's own CLIP: self-consistency, not an independent judge",
        }
    met = {k: adherence.get(k, 0.0) >= v for k, v in TARGETS.items() if k in adherence}
    if "fid" in report:
        met["fid_ratio"] = report["fid"]["ratio"] <= FID_RATIO_TARGET
    report["targets"] = {
        "thresholds": {**TARGETS, "fid_ratio": FID_RATIO_TARGET},
        "met": met,
        "all_met": all(met.values()),
    }
    report["wall_s"] = {"generation": gen_wall, "total": time.perf_counter() - t0}

    values = {f"eval/{k}": float(v) for k, v in adherence.items() if "/" in k}
    if "fid" in report:
        values |= {
            "eval/fid": report["fid"]["generated_vs_reference"],
            "eval/fid_floor": report["fid"]["real_vs_reference_floor"],
            "eval/fid_ratio": report["fid"]["ratio"],
        }
    if "clip_score" in report:
        values["eval/clip_score"] = report["clip_score"]["generated"]
    sink.metric(0, values)
    one = [i for i, sc in enumerate(scenes) if len(sc.objects) == 1]
    t = targets(scenes)
    for head, labels in (("color", COLOR_NAMES), ("position", POSITION_NAMES)):
        cm = confusion(
            [int(t[head][i]) for i in one],
            [preds[head][i] for i in one],
            labels,
            f"one object: asked {head} (rows) vs classified {head} (columns)",
        )
        sink.artifact(f"confusion/{head}.json", cm, kind="json", meta={"view": "confusion"})
    sink.artifact(
        "samples/grid.png",
        image_grid(images[:64], cols=8),
        meta={"view": "image", "prompts": texts[:64]},
    )
    sink.artifact("report.json", report, kind="json", meta={"title": "evaluation report"})
    return report


def prepare(params: Params, ctx: SubmitContext) -> Params:
    """The model exists; a left-out guidance scale becomes the model's own."""
    try:
        path = resolve_model(ctx.models_dir, params.model)
    except ModelError as exc:
        raise ParamError("model", str(exc)) from None
    if params.guidance_scale < 0:
        params = params.model_copy(update={"guidance_scale": default_guidance(path)})
    return params


def run(params: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    device = setup_device(ctx, params.cpu_threads)
    path = model_dir(ctx, params.model)
    if not (path / "model_index.json").exists():
        raise ValueError(f"model: {params.model!r} is not a pipeline directory in the models dir")
    report = evaluate(path, params, sink, str(device), ctx.models_dir / ".eval-cache")
    if params.save_report:
        write_json(path / EVAL_FILE, report)
        write_card(path)
    return {k: report[k] for k in ("adherence", "targets") if k in report} | {
        k: report[k] for k in ("fid", "clip_score") if k in report
    }


SPEC = KindSpec(
    name="eval",
    params=Params,
    run=run,
    prepare=prepare,
    queue="gpu",
    admin_only=True,
    title="Evaluate a model",
    description="Prompt adherence (attribute classifier), CLIP score and FID against real "
    "images beside the real-vs-real floor, on a fixed shapes prompt set.",
    category="evaluation",
)
