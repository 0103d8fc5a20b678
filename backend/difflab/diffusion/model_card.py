"""A model directory's card (README.md), written from what was measured, never by hand.

The `house` job leaves `training.json` in the model directory (recipe, steps, wall time per
stage, hardware, probe adherence during training) and `eval` with `save_report` leaves
`eval.json` (its report). `write_card` renders both, with the parts' configs and sizes, into
README.md; either job calls it, so the card always says what the files hold.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from difflab.datasets.shapes import HELD_OUT_COMPOSITIONS
from difflab.runtime import write_atomic

TRAINING_FILE = "training.json"
EVAL_FILE = "eval.json"
CARD_FILE = "README.md"

_PARTS = ("text_encoder", "unet", "vae", "clip")
_GRAMMAR = """Prompts it was trained on: `a [small |large ]{color} {shape} {position}[ on a \
{background} background]` and `a {color} {shape} on the left and a {color} {shape} on the \
right[ on a {background} background]` (colors red, orange, yellow, green, blue, purple; shapes \
circle, square, triangle, diamond; positions on the left, on the right, at the top, at the \
bottom, in the center; backgrounds white, gray, black), plus a few paraphrases. Other words \
map to byte pieces the model never saw.

Out of scope, by the grammar: counts ("two red circles": two objects always stand one on the \
left and one on the right, each named once) and relations between objects ("a circle above a \
square", "next to", "bigger than"). Such prompts are not refused, but nothing in training \
taught them and eval does not score them."""


def hardware(device: torch.device) -> dict[str, Any]:
    """What a run ran on, for the card: CPU model and cores, torch threads, GPU, versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "device": device.type,
        "cpu": cpu,
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write JSON next to the weights, whole or not at all."""
    write_atomic(path, (json.dumps(data, indent=1, sort_keys=True, default=str) + "\n").encode())


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _part_rows(model: Path) -> tuple[list[str], int]:
    rows, total = [], 0
    for part in _PARTS:
        files = sorted((model / part).glob("*.safetensors"))
        if not files:
            continue
        params = 0
        for f in files:
            with safe_open(str(f), framework="pt") as st:
                for key in st.keys():  # noqa: SIM118 (safe_open is not a mapping)
                    params += math.prod(st.get_slice(key).get_shape())
        size = sum(f.stat().st_size for f in files)
        total += size
        cfg = _read(model / part / "config.json") or {}
        rows.append(
            f"| {part} | {_describe(part, cfg)} | {params / 1e6:.2f} M | {size / 2**20:.1f} MiB |"
        )
    return rows, total


def _describe(part: str, cfg: dict[str, Any]) -> str:
    name = cfg.get("_class_name") or (cfg.get("architectures") or ["?"])[0]
    if part == "vae":
        ch = "/".join(str(c) for c in cfg.get("block_out_channels", []))
        return (
            f"`{name}`, channels {ch}, {cfg.get('latent_channels')} latent channels, "
            f"scaling factor {cfg.get('scaling_factor', 0):.4f} (measured)"
        )
    if part == "unet":
        ch = "/".join(str(c) for c in cfg.get("block_out_channels", []))
        return f"`{name}`, channels {ch}, cross-attention width {cfg.get('cross_attention_dim')}"
    text = cfg.get("text_config", cfg)
    desc = (
        f"`{name}`, width {text.get('hidden_size')}, {text.get('num_hidden_layers')} layers, "
        f"context {text.get('max_position_embeddings')} tokens"
    )
    return desc + (" (text + image tower, used by `eval`)" if part == "clip" else "")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


_HELD_OUT_LIST = ", ".join(" ".join(t) for t in HELD_OUT_COMPOSITIONS)


def _holdout_text(tr: dict[str, Any] | None, ev: dict[str, Any] | None) -> str:
    """What the card says about composition: which triples were kept out of training (from
    training.json) and, when eval measured them, the figure."""
    comp = (ev or {}).get("compositions", {})
    figure = comp.get("adherence", {}).get("composition/all")
    if tr is None:
        return (
            "Held-out compositions: not recorded (no training.json), so figures on the "
            "held-out set are not known to be held out."
        )
    if tr.get("recipe", {}).get("holdout", "none") != "compositions":
        text = (
            "Held-out compositions: none. This model was trained on every color x shape x "
            "position combination (`holdout: none`), so composition to unseen combinations is "
            "not measured for it"
        )
        if figure is not None:
            text += f"; its {_pct(figure)} on the held-out set is a figure seen in training"
        return text + (
            ". `difflab train house --set holdout=compositions` trains a model without the "
            "12 triples of `difflab.datasets.shapes.HELD_OUT_COMPOSITIONS`."
        )
    text = (
        "Held-out compositions: 12 color x shape x position triples never appear in a "
        f"training image or caption (`holdout: compositions`): {_HELD_OUT_LIST}. Every "
        "color, shape and position, and every pair of them, was seen in other combinations."
    )
    if figure is None:
        return text + " Eval has not measured them yet."
    return text + (
        f" Asked for them, the model draws the held-out object with both attributes right at "
        f"its position in {_pct(figure)} of images (Evaluation below)."
    )


def _eval_section(ev: dict[str, Any]) -> list[str]:
    adh, real = ev.get("adherence", {}), ev.get("classifier_on_real", {})
    thr, met = ev.get("targets", {}).get("thresholds", {}), ev.get("targets", {}).get("met", {})
    lines = [
        "## Evaluation (`difflab eval`)",
        "",
        f"{ev.get('n_images')} images ({adh.get('n_one')} one-object and {adh.get('n_two')} "
        f"two-object prompts), {ev.get('steps')} {ev.get('sampler', 'DDIM')} steps, guidance "
        f"{ev.get('guidance_scale')}. Adherence is scored by difflab's attribute classifier (a "
        "small CNN trained on the dataset's ground truth); its score on real renders of the "
        "same scenes is the ceiling.",
        "",
        "| metric | this model | real images | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = {
        "one/color": "one object: color",
        "one/shape": "one object: shape",
        "one/position": "one object: position",
        "one/all": "one object: all three",
        "two/both": "two objects: both right",
        "two/left_shape": "two objects: left shape",
        "two/right_shape": "two objects: right shape",
    }
    for key, label in names.items():
        if key not in adh:
            continue
        target = f">= {_pct(thr[key])}" if key in thr else ""
        verdict = ("met" if met.get(key) else "NOT met") if key in met else ""
        lines.append(_adherence_row(label, adh[key], real.get(key, 0), target, verdict))
    if fid := ev.get("fid"):
        verdict = "met" if met.get("fid_ratio") else "NOT met"
        lines.append(
            f"| FID against {fid['n_reference']} reference renders ({fid['features']}) | "
            f"{fid['generated_vs_reference']:.3f} (n={fid['n_generated']}) | floor "
            f"{fid['real_vs_reference_floor']:.3f} (n={fid['n_real']}) | ratio <= "
            f"{thr.get('fid_ratio', 3.0):g} | ratio {fid['ratio']:.2f} ± {fid['ratio_std']:.2f} "
            f"(bootstrap, {fid['bootstrap_rounds']} rounds): {verdict} |"
        )
    if cs := ev.get("clip_score"):
        lines.append(
            f"| CLIP score ({cs.get('encoder', 'own CLIP')}) | {cs['generated']:.1f} | "
            f"{cs['real']:.1f} | | |"
        )
    if comp := ev.get("compositions"):
        lines += ["", *_compositions_rows(comp, thr, met)]
    wall = ev.get("wall_s", {}).get("total")
    all_met = ev.get("targets", {}).get("all_met")
    if hw := ev.get("hardware"):
        lines += [
            "",
            f"Measured on {hw.get('cpu')} ({hw.get('cpu_cores')} cores, "
            f"{hw.get('torch_threads')} torch threads, {hw.get('device')}"
            + (f", {hw['gpu']}" if hw.get("gpu") else "")
            + f"), torch {hw.get('torch')}, prompt-set seed {ev.get('seed')}.",
        ]
    lines += [
        "",
        f"All targets met: {'yes' if all_met else 'no'}. "
        + (f"Evaluation wall time: {wall:.0f} s." if wall else ""),
    ]
    if digest := ev.get("weights", {}).get("sha256"):
        lines += ["", f"Weights measured: sha256 `{digest}` (of the `sha256sum` lines of every "
                  "safetensors file; eval.json lists each)."]  # fmt: skip
    return lines


def _compositions_rows(comp: dict[str, Any], thr: dict[str, Any], met: dict[str, Any]) -> list[str]:
    """The held-out set's table, labelled by whether the model saw those compositions."""
    adh, real, status = (
        comp.get("adherence", {}),
        comp.get("classifier_on_real", {}),
        comp["status"],
    )
    if status == "held out":
        intro = (
            "Held-out compositions (never in a training image or caption; the prompt set "
            "above leaves them out too): "
        )
    elif status == "seen in training":
        intro = (
            "The held-out composition set, **seen in training**: this model was trained on "
            "these compositions, so the figures below are not held out: "
        )
    else:
        intro = f"The held-out composition set (held out or not is unknown: {comp.get('why')}): "
    lines = [
        f"{intro}{comp.get('n_images')} images ({adh.get('n_one')} one-object prompts of "
        f"the 12 triples, {adh.get('n_two')} two-object prompts with one of them beside an "
        "object that is not).",
        "",
        f"| {status} | this model | real images | target | |",
        "| --- | --- | --- | --- | --- |",
    ]
    names = {
        "composition/all": "held-out object: both attributes right at its position",
        "composition/color": "held-out object: color",
        "composition/shape": "held-out object: shape",
        "one/position": "one object: position",
        "two/both": "two objects: both right",
    }
    for key, label in names.items():
        if key not in adh:
            continue
        target, verdict = "", ""
        if key == "composition/all" and "held_out" in thr:
            target = f">= {_pct(thr['held_out'])}"
            verdict = "met" if met.get("held_out") else "NOT met"
        lines.append(_adherence_row(label, adh[key], real.get(key, 0), target, verdict))
    return lines


def _adherence_row(label: str, ours: float, real: float, target: str, verdict: str) -> str:
    """One row of an adherence table: the model's figure beside the real images' ceiling."""
    return f"| {label} | {_pct(ours)} | {_pct(real)} | {target} | {verdict} |"


def _training_section(tr: dict[str, Any]) -> list[str]:
    hw, recipe, stages = tr.get("hardware", {}), tr.get("recipe", {}), tr.get("stages", {})
    lines = [
        "## Training (the `house` job, one run end to end)",
        "",
        f"Hardware: {hw.get('cpu', '?')}, {hw.get('cpu_cores', '?')} cores"
        + (f", GPU {hw['gpu']}" if hw.get("gpu") else ", no GPU")
        + f"; device {hw.get('device')}, {hw.get('torch_threads')} torch threads, "
        f"PyTorch {hw.get('torch')}. Data: `{recipe.get('dataset')}`, "
        f"{recipe.get('train_samples')} training samples, seed {recipe.get('seed')}"
        + (
            ", the held-out compositions kept out (`holdout: compositions`)."
            if recipe.get("holdout") == "compositions"
            else "."
        )
        + (f" Finished {tr['finished_at']}." if tr.get("finished_at") else ""),
        "",
        "| stage | steps | batch | peak lr (warm-up) | wall time |",
        "| --- | --- | --- | --- | --- |",
    ]
    order = [n for n in ("clip", "vae", "unet") if n in stages]
    for name in order + sorted(set(stages) - set(order)):
        res, r = stages[name], recipe.get(name, {})
        steps = str(r.get("steps"))
        if r.get("decoder_steps"):
            steps += f" + {r['decoder_steps']} decoder-only"
        batch = str(r.get("batch_size"))
        if r.get("crop_size"):
            batch += f" crops of {r['crop_size']} px"
        lines.append(
            f"| {name} | {steps} | {batch} | {r.get('lr')} ({r.get('warmup_steps')}) | "
            f"{res.get('wall_s', 0) / 60:.1f} min |"
        )
    total = tr.get("wall_s", 0)
    lines += [f"| whole job | | | | **{total / 60:.1f} min** |", ""]
    probe = tr.get("probe", [])
    if probe:
        keys = ["one/color", "one/shape", "one/position", "one/all", "two/both"]
        lines += [
            "Probe-set adherence during training (EMA weights, the fixed probe prompts and "
            "seeds, scored by the attribute classifier):",
            "",
            "| U-Net step | " + " | ".join(keys) + " |",
            "| --- | " + " | ".join("---" for _ in keys) + " |",
        ]
        for row in probe:
            cells = [_pct(row[k]) if k in row else "" for k in keys]
            lines.append(f"| {row['step']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "The recipe (the `house` job's parameters; `difflab train house` with no parameters "
        "runs the recipe the shipped house model was trained with):",
        "",
        "```json",
        json.dumps(recipe, indent=1, sort_keys=True),
        "```",
    ]
    return lines


def write_card(model: Path) -> Path:
    """(Re)write `model`/README.md from its configs, training.json and eval.json."""
    rows, total = _part_rows(model)
    difflab = _read(model / "difflab.json") or {}
    tr, ev = _read(model / TRAINING_FILE), _read(model / EVAL_FILE)
    dataset = (tr or {}).get("recipe", {}).get("dataset", "shapes")
    lines = [
        f"# {model.name} — a difflab text-to-image model",
        "",
        "A small Stable-Diffusion-shaped latent diffusion model trained from scratch by "
        "difflab's `house` job. It is a standard diffusers `StableDiffusionPipeline` "
        "directory (safetensors only): "
        f'`StableDiffusionPipeline.from_pretrained("models/{model.name}")` '
        "loads it. This card is written by difflab from `training.json` and `eval.json` beside "
        "it.",
        "",
        "| part | what | parameters | file size |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"Weights together: {total / 2**20:.1f} MiB. Native resolution "
        f"{difflab.get('resolution', '?')}x{difflab.get('resolution', '?')}; defaults: DDIM, "
        f"{difflab.get('default_steps', 25)} steps, guidance "
        f"{difflab.get('default_guidance_scale', '?')} (`difflab.json`).",
        "",
    ]
    if dataset == "shapes":
        lines += [_GRAMMAR, "", _holdout_text(tr, ev), ""]
    if ev:
        lines += [*_eval_section(ev), ""]
    if tr:
        lines += [*_training_section(tr), ""]
    path = model / CARD_FILE
    write_atomic(path, "\n".join(lines).encode())
    return path


DOCS_BEGIN = "<!-- eval report: rendered from models/house/eval.json; do not edit by hand -->"
DOCS_END = "<!-- end of eval report -->"


def render_docs_section(doc: str, model: Path) -> str:
    """`doc` with the text between the eval-report markers replaced by the model's report."""
    ev = _read(model / EVAL_FILE)
    if ev is None:
        raise FileNotFoundError(model / EVAL_FILE)
    head, sep, rest = doc.partition(DOCS_BEGIN)
    _, sep2, tail = rest.partition(DOCS_END)
    if not sep or not sep2:
        raise ValueError("the document has no eval-report markers")
    body = "\n".join(_eval_section(ev)[2:])  # without the card's own heading
    return f"{head}{DOCS_BEGIN}\n{body}\n{DOCS_END}{tail}"


def main(argv: list[str] | None = None) -> None:
    """python -m difflab.diffusion.model_card MODEL_DIR [DOC.md ...]: render the card again,
    and the eval report into each document's marked section."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    model = Path(args[0])
    write_card(model)
    for doc in map(Path, args[1:]):
        doc.write_text(render_docs_section(doc.read_text(), model))


if __name__ == "__main__":
    main()
