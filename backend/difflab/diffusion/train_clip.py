"""Stage 1 (`clip`): a small CLIP (text tower + image tower) trained contrastively.

The tokenizer is a CLIP-layout byte-level BPE (end-of-word suffix "</w>", specials
<|startoftext|> and <|endoftext|>) whose merges are learned from the training captions.
The model is transformers' CLIPModel with a small config; its loss is CLIP's symmetric
contrastive loss: with L = s * T I^T the logits between N texts and N images (s the learned
temperature), loss = (CE(L, diag) + CE(L^T, diag)) / 2. Saved as `tokenizer/`,
`text_encoder/` (a CLIPTextModel, what a Stable Diffusion pipeline conditions on) and
`clip/` (the whole CLIPModel, used for CLIP score and FID features).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from pydantic import Field
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPConfig, CLIPModel, CLIPTextModel, CLIPTokenizer

from difflab.datasets.shapes import vocabulary_sentences
from difflab.diffusion.checkpoint import save_checkpoint
from difflab.diffusion.outputs import output_kind
from difflab.diffusion.train_common import (
    DataParams,
    OutputParams,
    TrainLog,
    autocast,
    batch,
    check_data,
    lr_at,
    open_dataset,
    resume_stage,
    set_lr,
    setup_device,
    step_generator,
)
from difflab.diffusion.train_plots import heatmap_image
from difflab.runtime import KindSpec, RunContext, Sink
from difflab.train_loop import run_loop

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


class Params(DataParams, OutputParams):
    """Parameters of the `clip` stage."""

    steps: int = Field(800, ge=1, le=1_000_000, description="Optimizer steps.")
    batch_size: int = Field(128, ge=2, le=4096, description="Image-caption pairs per step.")
    lr: float = Field(1e-3, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(50, ge=0, le=100_000, description="Linear LR warm-up steps.")
    weight_decay: float = Field(0.05, ge=0, le=1.0, description="AdamW weight decay.")
    text_hidden: int = Field(128, ge=16, le=1024, description="Text tower width.")
    text_layers: int = Field(3, ge=1, le=24, description="Text tower transformer layers.")
    vision_hidden: int = Field(128, ge=16, le=1024, description="Image tower width.")
    vision_layers: int = Field(3, ge=1, le=24, description="Image tower transformer layers.")
    heads: int = Field(4, ge=1, le=32, description="Attention heads in both towers.")
    patch_size: int = Field(8, ge=2, le=64, description="Image tower patch side in pixels.")
    projection_dim: int = Field(64, ge=8, le=1024, description="Shared embedding size.")
    max_length: int = Field(32, ge=8, le=256, description="Token context (with BOS/EOS).")
    bpe_merges: int = Field(400, ge=0, le=50_000, description="Most BPE merges to learn.")
    resume: bool = Field(False, description="Continue from this stage's last checkpoint.")
    eval_every: int = Field(200, ge=1, le=1_000_000, description="Validate every N steps.")
    checkpoint_every: int = Field(200, ge=1, le=1_000_000, description="Checkpoint every N.")
    log_every: int = Field(10, ge=1, le=100_000, description="Emit train metrics every N.")


def build_tokenizer(captions: list[str], num_merges: int, max_length: int) -> CLIPTokenizer:
    """Learn BPE merges from the captions; lay out the vocab as CLIP's: 256 bytes,
    256 bytes + "</w>", one token per merge, then <|startoftext|>, <|endoftext|>."""
    template = CLIPTokenizer()  # an empty CLIP tokenizer: its normalizer and pre-tokenizer
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.normalizer = template.backend_tokenizer.normalizer
    bpe.pre_tokenizer = template.backend_tokenizer.pre_tokenizer
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    trainer = trainers.BpeTrainer(
        vocab_size=2 * len(alphabet) + num_merges,
        show_progress=False,
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        min_frequency=2,
    )
    bpe.train_from_iterator(captions, trainer)
    learned = json.loads(bpe.to_str())["model"]["merges"]
    vocab: dict[str, int] = {}
    for sym in [*alphabet, *(a + "</w>" for a in alphabet)]:
        vocab[sym] = len(vocab)
    merges: list[tuple[str, str]] = []
    for m in learned[:num_merges]:
        a, b = m if isinstance(m, list) else m.split(" ")
        merges.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    vocab[BOS], vocab[EOS] = len(vocab), len(vocab) + 1
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def save_tokenizer(tok: CLIPTokenizer, path: Path) -> None:
    """HF format (tokenizer.json + config), plus vocab.json/merges.txt for older loaders."""
    tok.save_pretrained(path)
    model = json.loads(tok.backend_tokenizer.to_str())["model"]
    (path / "vocab.json").write_text(json.dumps(model["vocab"], ensure_ascii=False))
    lines = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    (path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(lines) + "\n", "utf-8")


def clip_config(p: Params, tok: CLIPTokenizer) -> CLIPConfig:
    text = {
        "vocab_size": len(tok),
        "hidden_size": p.text_hidden,
        "intermediate_size": 4 * p.text_hidden,
        "num_hidden_layers": p.text_layers,
        "num_attention_heads": p.heads,
        "max_position_embeddings": p.max_length,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,  # pooled output = state at the first EOS
        "pad_token_id": tok.pad_token_id,
        "projection_dim": p.projection_dim,
    }
    vision = {
        "hidden_size": p.vision_hidden,
        "intermediate_size": 4 * p.vision_hidden,
        "num_hidden_layers": p.vision_layers,
        "num_attention_heads": p.heads,
        "image_size": p.resolution,
        "patch_size": p.patch_size,
        "projection_dim": p.projection_dim,
    }
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=p.projection_dim)


def tokenize(tok: CLIPTokenizer, captions: list[str]) -> torch.Tensor:
    """(B, max_length) ids, padded as a Stable Diffusion pipeline pads its prompts."""
    enc = tok(
        captions,
        padding="max_length",
        max_length=tok.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    ids: torch.Tensor = enc.input_ids
    return ids


@torch.no_grad()
def evaluate(
    model: CLIPModel, tok: CLIPTokenizer, x: torch.Tensor, captions: list[str], device: torch.device
) -> dict[str, Any]:
    """Val loss, retrieval accuracy (a retrieved caption equal to the true one counts as
    right: shapes captions repeat) and the similarity matrix of the batch."""
    model.eval()
    with autocast(device):
        out = model(
            input_ids=tokenize(tok, captions).to(device),
            pixel_values=x.to(device),
            return_loss=True,
        )
    model.train()
    sims = out.logits_per_image.float().cpu()  # (N images, N texts), scaled cosine
    i2t = sims.argmax(dim=1).tolist()
    t2i = sims.argmax(dim=0).tolist()
    n = len(captions)
    return {
        "loss": float(out.loss),
        "i2t": sum(captions[j] == captions[i] for i, j in enumerate(i2t)) / n,
        "t2i": sum(captions[j] == captions[i] for i, j in enumerate(t2i)) / n,
        "sims": sims,
    }


PARTS = ("tokenizer", "text_encoder", "clip")


def train_into(params: Params, sink: Sink, ctx: RunContext, out_dir: Path) -> dict[str, Any]:
    """Train the stage and write PARTS into `out_dir`."""
    p = params
    device = setup_device(ctx, p.cpu_threads)
    torch.manual_seed(p.seed)
    train, val = open_dataset(p, "train", ctx.data_dir), open_dataset(p, "val", ctx.data_dir)
    corpus = train.captions() + (vocabulary_sentences() if p.dataset == "shapes" else [])
    tok = build_tokenizer(corpus, p.bpe_merges, p.max_length)
    model = CLIPModel(clip_config(p, tok)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=p.weight_decay)
    ckpt_path = ctx.work_dir / "clip.ckpt.safetensors"
    start, best = 0, float("inf")
    if p.resume:
        start, best = resume_stage(ckpt_path, model, opt, sink, "clip")

    n_val = min(len(val), 256)
    val_x, val_caps = batch(val, list(range(n_val)))

    def checkpoint(step: int) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "step": step,
                "best": best,
                "rng": torch.get_rng_state(),
                "params": p.model_dump(),
            },
        )

    metrics: dict[str, Any] = {}
    log = TrainLog(sink, p.log_every, p.steps)

    def train_step(done: int) -> None:
        step = done - 1
        g = step_generator(p.seed, step)
        idx = torch.randint(len(train), (p.batch_size,), generator=g).tolist()
        x, caps = batch(train, idx)
        lr = lr_at(step, p.lr, p.warmup_steps, p.steps)
        set_lr(opt, lr)
        with autocast(device):
            out = model(
                input_ids=tokenize(tok, caps).to(device),
                pixel_values=x.to(device),
                return_loss=True,
            )
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
        opt.step()
        log.update(done, float(out.loss.detach()), lr, gnorm, len(idx))

    def validate(done: int) -> None:
        nonlocal metrics, best
        ev = evaluate(model, tok, val_x, val_caps, device)
        best = min(best, ev["loss"])
        metrics = {
            "val/loss": ev["loss"],
            "val/retrieval_i2t": ev["i2t"],
            "val/retrieval_t2i": ev["t2i"],
        }
        sink.metric(done, metrics)
        k = min(16, n_val)
        sub = ev["sims"][:k, :k]
        heat = {
            "matrix": sub.tolist(),
            "x_labels": val_caps[:k],
            "y_labels": [f"image {i}" for i in range(k)],
            "title": f"image-text similarity, step {done}",
        }
        sink.artifact(
            f"similarity/step_{done:06d}.json",
            heat,
            kind="json",
            step=done,
            meta={"view": "heatmap"},
        )
        sink.artifact(
            f"similarity/step_{done:06d}.png",
            heatmap_image(sub.numpy()),
            step=done,
            meta={"view": "image"},
        )

    run_loop(
        sink,
        p.steps,
        train_step,
        start=start,
        label="clip",
        evaluate=validate,
        evaluate_every=p.eval_every,
        checkpoint=checkpoint,
        checkpoint_every=p.checkpoint_every,
    )

    save_clip(model, tok, out_dir)
    return {"best_val_loss": best, **metrics}


run, prepare = output_kind("clip", PARTS, train_into, check_data)


def save_clip(model: CLIPModel, tok: CLIPTokenizer, out_dir: Path) -> None:
    """tokenizer/, text_encoder/ (CLIPTextModel) and clip/ (the whole CLIPModel)."""
    model = model.to("cpu").eval()
    save_tokenizer(tok, out_dir / "tokenizer")
    text = CLIPTextModel(model.config.text_config)
    text.load_state_dict(model.text_model.state_dict())
    text.save_pretrained(out_dir / "text_encoder", safe_serialization=True)
    model.save_pretrained(out_dir / "clip", safe_serialization=True)


SPEC = KindSpec(
    name="clip",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=True,
    title="Train the text encoder (CLIP)",
    description="Contrastive image-text training of a small CLIP and a BPE tokenizer built "
    "from the captions; writes tokenizer/, text_encoder/ and clip/ into the model directory.",
    category="training",
)
