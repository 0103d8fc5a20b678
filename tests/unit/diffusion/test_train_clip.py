"""clip stage: a CLIP-layout BPE tokenizer from captions, contrastive training, exact resume."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

from difflab.datasets.shapes import COLORS, POSITIONS, SHAPES, vocabulary_sentences
from difflab.diffusion import train_clip
from difflab.runtime import JobCancelled, MemorySink, RunContext

TINY: dict[str, Any] = {
    "train_samples": 32,
    "val_samples": 16,
    "resolution": 32,
    "cpu_threads": 1,
    "batch_size": 16,
    "text_hidden": 32,
    "text_layers": 1,
    "vision_hidden": 32,
    "vision_layers": 1,
    "heads": 2,
    "projection_dim": 16,
    "max_length": 24,
    "log_every": 1,
    "lr": 3e-3,
    "warmup_steps": 2,
}


def cancel_after(step: int) -> MemorySink:
    """A sink whose job is cancelled once `step` steps are done (as a user's cancel is)."""
    sink = MemorySink()

    def on_event(ev: Any) -> None:
        if ev.type == "progress" and ev.payload["done"] == step:
            sink.cancel()

    sink.on_event = on_event
    return sink


def test_tokenizer_is_clip_layout_and_loads_with_clip_tokenizer(tmp_path: Path) -> None:
    tok = train_clip.build_tokenizer(vocabulary_sentences() * 3, num_merges=300, max_length=24)
    vocab = tok.get_vocab()
    assert vocab["<|startoftext|>"] == len(vocab) - 2 and vocab["<|endoftext|>"] == len(vocab) - 1
    words = [*COLORS, *SHAPES, "left", "right", "background", "small", "large"]
    for w in words:  # every word of the grammar is one token with the end-of-word suffix
        assert tok.tokenize(w) == [f"{w}</w>"], w
    train_clip.save_tokenizer(tok, tmp_path / "tok")
    loaded = CLIPTokenizer.from_pretrained(tmp_path / "tok")
    text = f"a small red circle {next(iter(POSITIONS))} on a gray background"
    ids = train_clip.tokenize(loaded, [text, ""])
    assert ids.shape == (2, 24)
    assert ids.tolist() == train_clip.tokenize(tok, [text, ""]).tolist()
    assert ids[1, 0] == loaded.bos_token_id and ids[1, 1] == loaded.eos_token_id
    assert (tmp_path / "tok" / "vocab.json").exists() and (tmp_path / "tok" / "merges.txt").exists()
    # an unseen word still tokenizes (byte fallback pieces), never to an empty sequence
    assert len(loaded.tokenize("zebra")) >= 2


def test_clip_stage_learns_and_saves_its_towers(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sink = MemorySink()
    ctx = RunContext(job_id="t", work_dir=tmp_path / "w", models_dir=tmp_path / "m")
    p = train_clip.Params(**TINY, steps=12, eval_every=12, checkpoint_every=12)
    result = train_clip.run(p, sink, ctx)
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert len(losses) == 12 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert 0.0 <= result["val/retrieval_i2t"] <= 1.0
    heat = json.loads(sink.artifacts["similarity/step_000012.json"])
    assert len(heat["matrix"]) == 16 and len(heat["x_labels"]) == 16
    assert sink.artifacts["similarity/step_000012.png"][:4] == b"\x89PNG"
    out = Path(result["model_dir"])
    assert out.name.startswith("clip-")  # no output given: a new name, nothing overwritten
    text = CLIPTextModel.from_pretrained(out / "text_encoder")
    clip = CLIPModel.from_pretrained(out / "clip")
    ids = train_clip.tokenize(CLIPTokenizer.from_pretrained(out / "tokenizer"), ["a red circle"])
    with torch.no_grad():
        a = text(ids).last_hidden_state
        b = clip.text_model(ids).last_hidden_state
    assert a.shape == (1, 24, 32) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)


def test_clip_resume_gives_the_same_next_loss(tmp_path: Path) -> None:
    def ctx(name: str) -> RunContext:
        return RunContext(job_id=name, work_dir=tmp_path / name, models_dir=tmp_path / "m")

    p = train_clip.Params(**TINY, steps=4, eval_every=100, checkpoint_every=2, output="a")
    full = MemorySink()
    train_clip.run(p, full, ctx("full"))
    interrupted = cancel_after(2)
    with pytest.raises(JobCancelled):
        train_clip.run(p.model_copy(update={"output": "b"}), interrupted, ctx("part"))
    resumed = MemorySink()
    train_clip.run(p.model_copy(update={"output": "b", "resume": True}), resumed, ctx("part"))
    expect = dict(full.metric_series("train/loss"))
    got = dict(resumed.metric_series("train/loss"))
    assert sorted(got) == [3, 4]
    assert got[3] == pytest.approx(expect[3], rel=1e-6)
    assert got[4] == pytest.approx(expect[4], rel=1e-6)
