"""Every CUDA path once, in one run, as one table: what to run when a GPU is lent.

  1. the house model through the `generate` job function on the device: it/s (25 steps, the
     worker's device settings: models.device_settings) with and without approx previews;
  2. an SD-1.5-architecture U-Net (the standard config, random weights, fp16) at 512x512,
     batch 1 and 4: ms per classifier-free-guidance step (one U-Net call on 2 x batch):
     eager; channels_last + SDPA; torch.compile max-autotune (CUDA graphs). Goal on an
     H100/H200: <= 10 ms at batch 1;
  3. the SD VAE decoder at 512x512: ms per image;
  4. one `unet` training step of that U-Net in bf16 autocast (AdamW): ms and samples/s;
  5. with --api: bench/bench_api_generate.py on this machine (the API's ratio on the GPU).

`--tiny` runs the same code with tiny configs on the CPU (no compile) in seconds: the test
suite runs it so the script never rots. Prints a markdown table; `--json FILE` saves rows.

    python bench/gpu_check.py [--api] [--json out.json]      # on a GPU machine
    python bench/gpu_check.py --tiny                          # anywhere
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from difflab.diffusion.generate import GenerateParams, run
from difflab.diffusion.models import device_settings, model_resolution
from difflab.diffusion.tiny import build_tiny_pipeline_dir
from difflab.runtime import MemorySink, RunContext

HERE = Path(__file__).resolve().parent


def sd15_unet(tiny: bool) -> UNet2DConditionModel:
    if tiny:
        return UNet2DConditionModel(
            sample_size=8, block_out_channels=(32, 64), layers_per_block=1,
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8,
        )  # fmt: skip
    # the Stable Diffusion 1.5 U-Net's config (diffusers' defaults are SD 1.x's, but for these)
    return UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)


def sd_vae(tiny: bool) -> AutoencoderKL:
    if tiny:
        return AutoencoderKL(
            block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=4,
            layers_per_block=1, sample_size=32,
        )  # fmt: skip
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2,
        sample_size=512,
    )  # fmt: skip


def timed_ms(fn: Callable[[], Any], device: str, repeats: int, warmup: int = 2) -> float:
    """Median milliseconds of fn over repeats, after warm-up, synchronized on CUDA."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def house_rows(device: str, models_dir: Path, repeats: int, tiny: bool) -> list[dict[str, Any]]:
    model = "house"
    tmp = None
    if tiny or not (models_dir / model / "model_index.json").is_file():
        tmp = tempfile.TemporaryDirectory()
        models_dir, model = Path(tmp.name), "tiny"
        build_tiny_pipeline_dir(models_dir / model)
    size = model_resolution(models_dir / model).native
    ctx = RunContext(job_id="gpu-check", device=device, models_dir=models_dir)
    steps = 5 if tiny else 25
    rows = []
    for preview, attention in (("none", False), ("approx", False), ("approx", True)):
        params = GenerateParams(
            prompt="a red circle on the left", model=model, steps=steps, seed=1, width=size,
            height=size, preview=preview, attention=attention,
        )  # fmt: skip
        ms = timed_ms(lambda p=params: run(p, MemorySink(), ctx), device, repeats, warmup=1)
        rows.append({
            "check": f"{model} model, generate job, {steps} steps, preview {preview}"
                     + (" + attention" if attention else ""),
            "value": f"{steps / (ms / 1000):.1f} it/s ({ms:.1f} ms per image)",
        })  # fmt: skip
    if tmp is not None:
        tmp.cleanup()
    return rows


def unet_rows(device: str, repeats: int, tiny: bool, compile_: bool) -> list[dict[str, Any]]:
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    unet = sd15_unet(tiny).to(device, dtype).eval().requires_grad_(False)
    side = unet.config.sample_size
    ctx_dim = unet.config.cross_attention_dim
    rows = []
    variants: list[tuple[str, Callable[[], None]]] = [
        ("eager, classic attention", lambda: unet.set_attn_processor(AttnProcessor())),
        ("channels_last + SDPA", lambda: (unet.set_attn_processor(AttnProcessor2_0()),
                                          unet.to(memory_format=torch.channels_last))),
    ]  # fmt: skip
    for batch in (1, 4):
        x = torch.randn(2 * batch, 4, side, side, device=device, dtype=dtype)
        text = torch.randn(2 * batch, 77, ctx_dim, device=device, dtype=dtype)
        t = torch.tensor(500, device=device)
        for name, setup in variants:
            setup()
            xin = x.contiguous(memory_format=torch.channels_last) if "last" in name else x
            with torch.inference_mode():
                ms = timed_ms(lambda m=unet, a=(xin, t, text): m(*a), device, repeats)
            rows.append({
                "check": f"SD-1.5 U-Net {8 * side}x{8 * side}, batch {batch}, CFG step: {name}",
                "value": f"{ms:.2f} ms",
            })  # fmt: skip
        if compile_:
            compiled = torch.compile(unet, mode="max-autotune", fullgraph=False)
            xin = x.contiguous(memory_format=torch.channels_last)
            with torch.inference_mode():
                ms = timed_ms(lambda m=compiled, a=(xin, t, text): m(*a), device, repeats, warmup=3)
            rows.append({
                "check": f"SD-1.5 U-Net {8 * side}x{8 * side}, batch {batch}, CFG step: "
                         "torch.compile max-autotune (CUDA graphs)",
                "value": f"{ms:.2f} ms" + (" (goal <= 10 ms)" if batch == 1 else ""),
            })  # fmt: skip
    return rows


def vae_rows(device: str, repeats: int, tiny: bool) -> list[dict[str, Any]]:
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    vae = sd_vae(tiny).to(device, dtype).eval().requires_grad_(False)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    side = vae.config.sample_size // factor
    z = torch.randn(1, 4, side, side, device=device, dtype=dtype)
    with torch.inference_mode():
        ms = timed_ms(lambda: vae.decode(z), device, repeats)
    return [{"check": f"VAE decode {vae.config.sample_size}x{vae.config.sample_size}",
             "value": f"{ms:.2f} ms"}]  # fmt: skip


def train_rows(device: str, repeats: int, tiny: bool) -> list[dict[str, Any]]:
    unet = sd15_unet(tiny).to(device).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=1e-5)
    batch = 2 if tiny else 8
    side = unet.config.sample_size
    x = torch.randn(batch, 4, side, side, device=device)
    text = torch.randn(batch, 77, unet.config.cross_attention_dim, device=device)
    t = torch.randint(0, 1000, (batch,), device=device)
    dev_type = torch.device(device).type
    bf16 = dev_type == "cuda"

    def step() -> None:
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.mse_loss(unet(x, t, text).sample.float(), x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    ms = timed_ms(step, device, repeats)
    return [{
        "check": f"U-Net training step, batch {batch}, " + ("bf16 autocast" if bf16 else "fp32"),
        "value": f"{ms:.1f} ms, {batch / (ms / 1000):.1f} samples/s",
    }]  # fmt: skip


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU, no compile")
    parser.add_argument("--device", default=None)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--api", action="store_true", help="also run bench_api_generate.py")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    device = args.device or ("cuda:0" if torch.cuda.is_available() and not args.tiny else "cpu")
    repeats = 2 if args.tiny else args.repeats
    compile_ = device.startswith("cuda") and not args.tiny
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    settings = device_settings(device)
    rows: list[dict[str, Any]] = []
    for part in (
        lambda: house_rows(device, args.models_dir, repeats, args.tiny),
        lambda: unet_rows(device, repeats, args.tiny, compile_),
        lambda: vae_rows(device, repeats, args.tiny),
        lambda: train_rows(device, repeats, args.tiny),
    ):
        try:
            rows += part()
        except Exception as exc:  # one failing path must not hide the others' figures
            rows.append({"check": "FAILED", "value": f"{type(exc).__name__}: {exc}"[:300]})
    print(f"### GPU check on {name} ({device})\n")
    print(f"torch {torch.__version__}; worker settings on this device: dtype "
          f"{str(settings.dtype).removeprefix('torch.')}, channels_last "
          f"{settings.channels_last}; medians of {repeats} runs.\n")  # fmt: skip
    print("| check | result |\n|---|---|")
    for row in rows:
        print(f"| {row['check']} | {row['value']} |")
    if args.api and not args.tiny:
        sys.stdout.flush()
        subprocess.run(
            [sys.executable, str(HERE / "bench_api_generate.py"), "--cases", "a1111,studio"],
            check=False,
        )
    if args.json:
        args.json.write_text(json.dumps({"device": name, "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
