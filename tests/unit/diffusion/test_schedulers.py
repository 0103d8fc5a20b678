from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from difflab.diffusion.pipeline import generate
from difflab.diffusion.schedulers import (
    SAMPLERS,
    effective_schedule,
    list_samplers,
    make_scheduler,
    resolve_sampler,
    resolve_schedule,
    step_kwargs,
    takes_eta,
)

REQUIRED = [
    "DDPM", "DDIM", "PNDM", "LMS", "Heun", "Euler", "Euler a", "DPM2", "DPM2 a",
    "DPM++ 2M", "DPM++ 2M Karras", "DPM++ SDE", "UniPC",
]  # fmt: skip


def test_registry_has_the_required_samplers_in_a1111_shape() -> None:
    listed = list_samplers()
    names = [s["name"] for s in listed]
    assert set(REQUIRED) <= set(names)
    assert all(set(s) == {"name", "aliases", "options"} for s in listed)
    karras = next(s for s in listed if s["name"] == "DPM++ 2M Karras")
    assert karras == {"name": "DPM++ 2M Karras", "aliases": ["k_dpmpp_2m_ka"],
                      "options": {"scheduler": "karras"}}  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "name"),
    [("k_euler_a", "Euler a"), ("K_EULER_ANCESTRAL", "Euler a"), ("euler A", "Euler a"),
     ("PLMS", "PNDM"), ("k_dpmpp_2m", "DPM++ 2M"), ("k_dpmpp_2m_ka", "DPM++ 2M Karras"),
     (" DDIM ", "DDIM"), ("k_dpmpp_sde", "DPM++ SDE")],
)  # fmt: skip
def test_aliases_resolve(alias: str, name: str) -> None:
    assert resolve_sampler(alias) == name


def test_unknown_sampler_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown sampler 'Euler b'; valid: DDPM, DDIM.*UniPC"):
        resolve_sampler("Euler b")
    with pytest.raises(ValueError, match=r"valid: Automatic, Uniform, Karras"):
        resolve_schedule("Sideways")
    assert resolve_schedule("karras") == "Karras" and resolve_schedule(None) == "Automatic"


def test_schedulers_are_fresh_and_keep_the_model_config(tiny_pipe: Any) -> None:
    config = tiny_pipe.scheduler.config
    a = make_scheduler("Euler", config)
    b = make_scheduler("Euler", config)
    assert a is not b and a is not tiny_pipe.scheduler
    for s in (a, make_scheduler("DPM++ 2M", config), make_scheduler("DDIM", config)):
        assert s.config.beta_schedule == "scaled_linear"
        assert s.config.prediction_type == "epsilon"
        assert s.config.num_train_timesteps == 1000
    assert type(make_scheduler("k_euler_a", config)).__name__ == "EulerAncestralDiscreteScheduler"
    assert make_scheduler("PNDM", config).config.skip_prk_steps is True
    a.set_timesteps(5)
    assert len(b.timesteps) == 1000  # b unaffected by a's state


def test_schedule_types_map_where_the_scheduler_has_them(tiny_pipe: Any) -> None:
    config = tiny_pipe.scheduler.config
    assert make_scheduler("DPM++ 2M Karras", config).config.use_karras_sigmas is True
    assert make_scheduler("DPM++ 2M", config, schedule="Karras").config.use_karras_sigmas is True
    expo = make_scheduler("DPM++ 2M Karras", config, schedule="Exponential").config
    assert expo.use_exponential_sigmas is True and expo.use_karras_sigmas is False
    assert make_scheduler("UniPC", config, schedule="SGM Uniform").config.timestep_spacing == (
        "trailing"
    )
    # A model config that already turns Karras on does not leak into the plain sampler.
    karras_config = {**dict(config), "use_karras_sigmas": True}
    assert make_scheduler("DPM++ 2M", karras_config).config.use_karras_sigmas is False
    # DDIM has no sigma schedule: Karras does not map there, and is not claimed.
    assert effective_schedule("DDIM", "Karras") == "Automatic"
    assert effective_schedule("Euler", "Karras") == "Karras"
    assert effective_schedule("DPM++ 2M Karras", "Automatic") == "Karras"


def test_sde_sampler_is_seeded_per_image(tiny_pipe: Any) -> None:
    config = tiny_pipe.scheduler.config
    assert make_scheduler("DPM++ SDE", config, seeds=[7]).config.noise_sampler_seed == 7
    assert make_scheduler("DPM++ SDE", config, seeds=[7, 8]).config.noise_sampler_seed == [7, 8]
    assert takes_eta("DDIM") and not takes_eta("Euler a")


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_runs_a_few_steps(tiny_pipe: Any, name: str) -> None:
    scheduler = make_scheduler(name, tiny_pipe.scheduler.config, seeds=[3])
    seen: list[int] = []
    out = generate(
        tiny_pipe, scheduler, prompt="a red circle", steps=2, guidance_scale=4.0, seeds=[3],
        width=32, height=32, on_step=lambda s: seen.append(s.index),
    )  # fmt: skip
    # One event per U-Net evaluation: second-order samplers (Heun, DPM2, DPM++ SDE) evaluate
    # twice per step but once on the last (2 * steps - 1); PLMS repeats its first timestep.
    expected = {2: 3}.get(scheduler.order, 3 if name == "PNDM" else 2)
    assert out.steps == expected == len(scheduler.timesteps)
    assert seen == list(range(expected))
    pixels = np.asarray(out.images[0])
    assert pixels.shape == (32, 32, 3) and pixels.std() > 0


@pytest.mark.parametrize("name", REQUIRED)
def test_a_scheduler_copied_from_its_template_steps_as_a_fresh_one(
    tiny_pipe: Any, name: str
) -> None:
    """make_scheduler hands out copies of one template per config; each copy must be the
    scheduler from_config builds, and a copy that stepped must leave the next one fresh."""
    import torch

    def _gen() -> torch.Generator:
        return torch.Generator().manual_seed(0)

    config = tiny_pipe.scheduler.config
    used = make_scheduler(name, config, seeds=[3])
    used.set_timesteps(4)
    used.step(torch.zeros(1, 4, 8, 8), used.timesteps[0], torch.ones(1, 4, 8, 8))
    fresh_cls = SAMPLERS[resolve_sampler(name)].cls
    copied = make_scheduler(name, config, seeds=[3])
    built = fresh_cls.from_config(copied.config)
    for s in (copied, built):
        s.set_timesteps(6)
    assert torch.equal(copied.timesteps, built.timesteps)
    sample, out = torch.linspace(-1, 1, 256).view(1, 4, 8, 8), torch.full((1, 4, 8, 8), 0.1)
    for t in copied.timesteps[:3]:
        a, b = (
            s.step(out, t, sample, **step_kwargs(s, eta=0.0, generator=_gen())).prev_sample
            for s in (copied, built)
        )
        assert torch.equal(a, b), name
