"""LoRAs: the `lora` kind trains one with peft that plain diffusers loads; generation turns it
on by tag or field, records it in the infotext, and leaves the cached pipeline clean."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline
from PIL import Image

from difflab.diffusion import loras
from difflab.diffusion.generate import GenerateParams, check_generate_params
from difflab.diffusion.generate import run as generate_run
from difflab.diffusion.train_lora import Params, prepare
from difflab.diffusion.train_lora import run as train_run
from difflab.runtime import MemorySink, ParamError, RunContext, SubmitContext


def test_tags_are_parsed_and_taken_out_of_the_prompt() -> None:
    text, refs = loras.extract("a cat, <lora:ink:0.6>, on a mat <LORA:x-1>")
    assert text == "a cat, on a mat"
    assert [(r.name, r.weight) for r in refs] == [("ink", 0.6), ("x-1", 1.0)]
    assert loras.extract("plain (words:1.2)") == ("plain (words:1.2)", [])
    for bad, why in (("<lora:ink:lots>", "number"), ("<lora:../x:1>", "not a LoRA name"),
                     ("<lora:ink:9>", "within")):  # fmt: skip
        with pytest.raises(ParamError, match=why) as info:
            loras.extract(bad)
        assert info.value.field == "prompt"
    with pytest.raises(ParamError, match="twice"):
        loras.merged([loras.LoraWeight(name="ink")], [loras.LoraWeight(name="ink", weight=0.5)])


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A models directory with `house` (the tiny model) and a LoRA of it trained 30 steps."""
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    root = tmp_path_factory.mktemp("lora")
    models, data = root / "models", root / "var"
    build_tiny_pipeline_dir(models / "house", seed=0)
    ctx = RunContext(job_id="lora-job", models_dir=models, data_dir=data, work_dir=root / "w")
    small = Params(steps=30, batch_size=8, lr=1e-2, train_samples=64, val_samples=8,
                   sample_every=15, validation_steps=3)  # fmt: skip
    p = prepare(small, SubmitContext(models, data))
    sink = MemorySink()
    result = train_run(p, sink, ctx)
    return {"models": models, "data": data, "name": p.output, "result": result, "sink": sink}


def _generate(t: dict[str, Any], prompt: str, **kw: Any) -> tuple[np.ndarray, dict[str, Any]]:
    sink = MemorySink()
    ctx = RunContext(job_id="g", models_dir=t["models"], data_dir=t["data"],
                     work_dir=t["data"] / "g")  # fmt: skip
    params = GenerateParams(prompt=prompt, steps=4, seed=3, preview="none", attention=False,
                            guidance_scale=4.0, **kw)  # fmt: skip
    out = generate_run(params, sink, ctx)
    img = Image.open(io.BytesIO(sink.artifacts[out["images"][0]]))
    return np.asarray(img.convert("RGB"), dtype=np.int16), out


def test_the_kind_writes_a_lora_with_its_card_and_validation_grid(trained) -> None:
    models, name = trained["models"], trained["name"]
    assert name.startswith("lora-")
    files = sorted(p.name for p in (models / "loras").iterdir())
    assert files == [f"{name}.json", f"{name}.png", f"{name}.safetensors"]
    card = json.loads((models / "loras" / f"{name}.json").read_text())
    assert card["base_model"] == "house" and card["steps"] == 30 and card["rank"] == 4
    assert card["dataset"] == "shapes" and len(card["validation_prompts"]) >= 1
    grid = Image.open(models / "loras" / f"{name}.png")
    assert grid.height == 64 * 3  # rows: step 0, 15, 30
    assert not (models / ".staging").exists()
    metrics = [e.payload for e in trained["sink"].events if e.type == "metric"]
    assert metrics and "train/loss" in metrics[-1]["values"]


def test_plain_diffusers_loads_it_and_it_changes_the_unet(trained) -> None:
    pipe = StableDiffusionPipeline.from_pretrained(str(trained["models"] / "house"))
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    cond = torch.randn(1, 16, pipe.text_encoder.config.hidden_size)
    with torch.no_grad():
        before = pipe.unet(x, 500, cond).sample
        pipe.load_lora_weights(str(trained["models"] / "loras"),
                               weight_name=f"{trained['name']}.safetensors")  # fmt: skip
        after = pipe.unet(x, 500, cond).sample
    assert (after - before).abs().max() > 1e-4


def test_generation_with_a_lora_differs_and_the_pipeline_is_clean_after(trained) -> None:
    name = trained["name"]
    plain, _ = _generate(trained, "a red circle")
    tagged, out = _generate(trained, f"a red circle <lora:{name}:1>")
    by_field, _ = _generate(trained, "a red circle", loras=[{"name": name, "weight": 1.0}])
    again, _ = _generate(trained, "a red circle")
    assert np.abs(tagged - plain).max() > 0  # the LoRA changes the picture
    assert np.array_equal(tagged, by_field)  # the tag and the field are the same request
    assert np.array_equal(again, plain)  # unloaded: the cached pipeline is the plain model
    text = out["infotexts"][0]
    assert text.startswith(f"a red circle <lora:{name}:1>")  # the prompt as written
    digest = loras.short_hash(trained["models"] / "loras" / f"{name}.safetensors")
    assert f'Lora hashes: "{name}: {digest}"' in text
    zero, _ = _generate(trained, f"a red circle <lora:{name}:0>")
    assert np.abs(zero - plain).max() <= 1  # weight 0 is the plain model


def test_a_lora_of_another_base_model_is_refused_naming_both(trained, tmp_path: Path) -> None:
    models = trained["models"]
    shutil.copytree(models / "house", models / "other", dirs_exist_ok=True)
    name = trained["name"]
    with pytest.raises(ParamError, match=r"trained on model 'house', not on 'other'") as info:
        check_generate_params(GenerateParams(prompt=f"x <lora:{name}:1>", model="other"), models)
    assert info.value.field == "loras"
    with pytest.raises(ParamError, match="no LoRA 'nope'"):
        check_generate_params(GenerateParams(loras=[{"name": "nope"}]), models)
    # a LoRA without a card is checked by its shapes: a 24-wide cross-attention is not 32
    blob = loras.loras_dir(models) / "alien.safetensors"
    from safetensors.torch import save_file

    key = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight"
    save_file({key: torch.zeros(4, 24)}, str(blob))
    width = json.loads((models / "house" / "unet" / "config.json").read_text())
    with pytest.raises(ParamError, match="another base model") as info:
        check_generate_params(GenerateParams(prompt="x <lora:alien>"), models)
    assert str(width["cross_attention_dim"]) in info.value.message
    blob.unlink()


def test_default_output_is_new_and_an_existing_lora_needs_overwrite(trained) -> None:
    models, data, name = trained["models"], trained["data"], trained["name"]
    ctx = SubmitContext(models, data)
    assert prepare(Params(), ctx).output != name  # a new name beside the existing one
    with pytest.raises(ParamError, match="exists") as info:
        prepare(Params(output=name), ctx)
    assert info.value.field == "output"
    assert prepare(Params(output=name, overwrite=True), ctx).output == name
    with pytest.raises(ParamError, match="no dataset 'nope'"):
        prepare(Params(dataset="nope"), ctx)
    with pytest.raises(ParamError, match="nothing to crop") as info:  # never accepted unused
        prepare(Params(crop="random"), ctx)
    assert info.value.field == "crop"


def test_several_loras_at_once_add_their_updates(trained) -> None:
    """A LoRA and its negation (B -> -B) at weight 1 each add up to no change at all, and
    either alone changes the picture: both adapters are active together (set_adapters)."""
    from safetensors.torch import load_file, save_file

    models, name = trained["models"], trained["name"]
    root = models / "loras"
    state = load_file(str(root / f"{name}.safetensors"))
    up = ("lora_B", "lora.up", "lora_up")  # peft, diffusers and kohya names of B
    flipped = {k: (-v if any(u in k for u in up) else v) for k, v in state.items()}
    assert any(any(u in k for u in up) for k in state)
    save_file(flipped, str(root / "negated.safetensors"))
    shutil.copy(root / f"{name}.json", root / "negated.json")
    try:
        plain, _ = _generate(trained, "a red circle")
        alone, _ = _generate(trained, "a red circle <lora:negated:1>")
        both, out = _generate(trained, f"a red circle <lora:{name}:1> <lora:negated:1>")
        assert np.abs(alone - plain).max() > 0
        assert np.abs(both - plain).max() <= 1  # the two updates cancel
        assert "negated: " in out["infotexts"][0] and f"{name}: " in out["infotexts"][0]
    finally:
        for suffix in (".safetensors", ".json"):
            (root / f"negated{suffix}").unlink(missing_ok=True)


def test_save_every_keeps_checkpoints_a_plot_can_compare(trained, tmp_path: Path) -> None:
    models, data = trained["models"], trained["data"]
    p = prepare(Params(steps=6, batch_size=4, train_samples=32, val_samples=8, sample_every=6,
                       save_every=2, validation_steps=1, validation_prompts=["a red circle"]),
                SubmitContext(models, data))  # fmt: skip
    ctx = RunContext(job_id="ckpts", models_dir=models, data_dir=data, work_dir=tmp_path / "w")
    train_run(p, MemorySink(), ctx)
    root, name = models / "loras", p.output
    kept = sorted(f.name for f in root.glob(f"{name}-step*"))
    assert kept == [f"{name}-step{s:06d}{x}" for s in (2, 4) for x in (".json", ".safetensors")]
    card = json.loads((root / f"{name}-step000002.json").read_text())
    assert card["steps"] == 2 and card["checkpoint_of"] == name and card["base_model"] == "house"
    found = {f.name for f in loras.found(models)}
    assert {name, f"{name}-step000002", f"{name}-step000004"} <= found
    (root / f"{name}.safetensors").rename(tmp_path / "final.safetensors")
    with pytest.raises(ParamError, match="checkpoints") as info:  # its checkpoints are kept
        prepare(Params(output=name, save_every=2), SubmitContext(models, data))
    assert info.value.field == "output"
    (tmp_path / "final.safetensors").rename(root / f"{name}.safetensors")
