"""The sampler registry: AUTOMATIC1111's sampler names mapped to diffusers schedulers.

A sampler is a diffusers scheduler class plus config overrides. Every request gets a fresh
scheduler built with `cls.from_config(model_scheduler_config, **overrides)`: a scheduler keeps
per-run state (its timesteps, a multistep solver's history, a step index), so one is never
shared between runs. The model's config carries what the model was trained with (beta
schedule, prediction type, timestep count); the sampler decides only how to walk it.

AUTOMATIC1111 (since 1.6) splits a sampler from its schedule type (`scheduler`: "Karras",
"Exponential", ...); the older combined names ("DPM++ 2M Karras") and the k-diffusion aliases
("k_dpmpp_2m_ka") are accepted as well.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    DEISMultistepScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSDEScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)

SamplerName = Literal[
    "DDPM",
    "DDIM",
    "PNDM",
    "LMS",
    "LMS Karras",
    "Heun",
    "Euler",
    "Euler a",
    "DPM2",
    "DPM2 Karras",
    "DPM2 a",
    "DPM2 a Karras",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Karras",
    "DPM++ SDE",
    "DPM++ SDE Karras",
    "UniPC",
    "DEIS",
]
# AUTOMATIC1111's `scheduler` field (the sigma/timestep schedule), where diffusers has it.
ScheduleType = Literal["Automatic", "Uniform", "Karras", "Exponential", "Beta", "SGM Uniform"]

DEFAULT_SAMPLER: SamplerName = "DPM++ 2M"

# A diffusers scheduler class or instance. diffusers exports its classes lazily, which hides
# their methods from mypy, hence Any.
Scheduler = Any

# Sigma-schedule switches of the k-diffusion-style schedulers; all off = the model's own spacing.
_SIGMA_FLAGS = ("use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas")
_SCHEDULE_OVERRIDES: dict[str, dict[str, Any]] = {
    "Karras": {"use_karras_sigmas": True},  # Karras et al. 2022, eq. 5, rho = 7
    "Exponential": {"use_exponential_sigmas": True},  # log-sigma uniform
    "Beta": {"use_beta_sigmas": True},  # Lee et al. 2024, beta(0.6, 0.6) spacing
    "SGM Uniform": {"timestep_spacing": "trailing"},  # uniform in t, ending at T
}


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler: a scheduler class and how it is configured."""

    name: str  # AUTOMATIC1111's display name
    cls: type[Any]
    overrides: Mapping[str, Any] = field(default_factory=dict)  # config keys set for this sampler
    schedule: ScheduleType = "Automatic"  # built into the name ("... Karras")
    aliases: tuple[str, ...] = ()  # k-diffusion / A1111 API aliases


def _dpmpp(algorithm: str) -> dict[str, Any]:
    return {"algorithm_type": algorithm, "solver_order": 2}


_SPECS = [
    SamplerSpec("DDPM", DDPMScheduler, aliases=("ddpm",)),
    SamplerSpec("DDIM", DDIMScheduler, aliases=("ddim",)),
    # PLMS = PNDM's linear multistep part only (as the SD-1.x pipelines run it).
    SamplerSpec("PNDM", PNDMScheduler, {"skip_prk_steps": True}, aliases=("PLMS", "pndm")),
    SamplerSpec("LMS", LMSDiscreteScheduler, aliases=("k_lms",)),
    SamplerSpec("LMS Karras", LMSDiscreteScheduler, schedule="Karras", aliases=("k_lms_ka",)),
    SamplerSpec("Heun", HeunDiscreteScheduler, aliases=("k_heun",)),
    SamplerSpec("Euler", EulerDiscreteScheduler, aliases=("k_euler",)),
    SamplerSpec(
        "Euler a", EulerAncestralDiscreteScheduler, aliases=("k_euler_a", "k_euler_ancestral")
    ),
    SamplerSpec("DPM2", KDPM2DiscreteScheduler, aliases=("k_dpm_2",)),
    SamplerSpec("DPM2 Karras", KDPM2DiscreteScheduler, schedule="Karras", aliases=("k_dpm_2_ka",)),
    SamplerSpec("DPM2 a", KDPM2AncestralDiscreteScheduler, aliases=("k_dpm_2_a",)),
    SamplerSpec(
        "DPM2 a Karras",
        KDPM2AncestralDiscreteScheduler,
        schedule="Karras",
        aliases=("k_dpm_2_a_ka",),
    ),
    SamplerSpec(
        "DPM++ 2M", DPMSolverMultistepScheduler, _dpmpp("dpmsolver++"), aliases=("k_dpmpp_2m",)
    ),
    SamplerSpec(
        "DPM++ 2M Karras",
        DPMSolverMultistepScheduler,
        _dpmpp("dpmsolver++"),
        schedule="Karras",
        aliases=("k_dpmpp_2m_ka",),
    ),
    SamplerSpec(
        "DPM++ 2M SDE",
        DPMSolverMultistepScheduler,
        _dpmpp("sde-dpmsolver++"),
        aliases=("k_dpmpp_2m_sde",),
    ),
    SamplerSpec(
        "DPM++ 2M SDE Karras",
        DPMSolverMultistepScheduler,
        _dpmpp("sde-dpmsolver++"),
        schedule="Karras",
        aliases=("k_dpmpp_2m_sde_ka",),
    ),
    SamplerSpec("DPM++ SDE", DPMSolverSDEScheduler, aliases=("k_dpmpp_sde",)),
    SamplerSpec(
        "DPM++ SDE Karras", DPMSolverSDEScheduler, schedule="Karras", aliases=("k_dpmpp_sde_ka",)
    ),
    SamplerSpec("UniPC", UniPCMultistepScheduler, aliases=("unipc",)),
    SamplerSpec("DEIS", DEISMultistepScheduler, aliases=("deis",)),
]
SAMPLERS: dict[str, SamplerSpec] = {s.name: s for s in _SPECS}
assert tuple(SAMPLERS) == get_args(SamplerName), "SamplerName and the registry disagree"

_LOOKUP: dict[str, str] = {}
for _spec in _SPECS:
    for _key in (_spec.name, *_spec.aliases):
        _LOOKUP[_key.casefold()] = _spec.name


def resolve_sampler(name: str) -> SamplerName:
    """The registry name for a name or alias (case-insensitive); ValueError lists valid names."""
    canonical = _LOOKUP.get(str(name).strip().casefold())
    if canonical is None:
        raise ValueError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")
    return canonical  # type: ignore[return-value]


def resolve_schedule(value: str | None) -> ScheduleType:
    """A schedule type by name, case-insensitive; None or "" is "Automatic"."""
    if not value:
        return "Automatic"
    for option in get_args(ScheduleType):
        if option.casefold() == str(value).strip().casefold():
            return option  # type: ignore[no-any-return]
    raise ValueError(f"unknown scheduler {value!r}; valid: {', '.join(get_args(ScheduleType))}")


def list_samplers() -> list[dict[str, Any]]:
    """[{name, aliases, options}] in AUTOMATIC1111's /sdapi/v1/samplers shape."""
    out = []
    for s in _SPECS:
        options = {"scheduler": s.schedule.lower()} if s.schedule != "Automatic" else {}
        out.append({"name": s.name, "aliases": list(s.aliases), "options": options})
    return out


_INIT_PARAMS: dict[Any, frozenset[str]] = {}


def _init_params(cls: Any) -> frozenset[str]:
    found = _INIT_PARAMS.get(cls)
    if found is None:
        found = _INIT_PARAMS[cls] = frozenset(inspect.signature(cls.__init__).parameters)
    return found


# Fresh schedulers are copies of one built per (class, config): diffusers' from_config inspects
# signatures and rebuilds the noise schedule each time, a few milliseconds of every request.
# A template is never stepped, so its copy is the scheduler from_config would make.
_TEMPLATES: dict[tuple[Any, ...], Scheduler] = {}
_TEMPLATES_MAX = 64
_templates_lock = threading.Lock()


def _from_config(cls: Any, base: dict[str, Any], overrides: dict[str, Any]) -> Scheduler:
    try:
        key = (cls, tuple(sorted((k, repr(v)) for k, v in {**base, **overrides}.items())))
    except TypeError:  # a value without an order-free repr: build it afresh
        return cls.from_config(base, **overrides)  # type: ignore[no-any-return]
    with _templates_lock:
        template = _TEMPLATES.get(key)
    if template is None:
        template = cls.from_config(base, **overrides)
        with _templates_lock:
            if len(_TEMPLATES) >= _TEMPLATES_MAX:
                _TEMPLATES.clear()
            _TEMPLATES[key] = template
    return copy.deepcopy(template)


def effective_schedule(name: str, schedule: str | None = "Automatic") -> ScheduleType:
    """The schedule type actually used: an explicit one wins over the name's built-in one;
    "Automatic" where the scheduler class has no such switch (DDIM, DDPM, PNDM, Euler a)."""
    spec = SAMPLERS[resolve_sampler(name)]
    chosen = resolve_schedule(schedule)
    chosen = spec.schedule if chosen == "Automatic" else chosen
    wanted = _SCHEDULE_OVERRIDES.get(chosen, {})
    if wanted and not set(wanted) <= _init_params(spec.cls):
        return "Automatic"
    return chosen


def make_scheduler(
    name: str,
    config: Mapping[str, Any],
    *,
    schedule: str | None = "Automatic",
    seeds: Sequence[int] = (),
) -> Scheduler:
    """A fresh scheduler for sampler `name` from a model's scheduler config.

    `seeds` (one per image) seed the Brownian tree of "DPM++ SDE"; without them diffusers would
    draw its seed from torch's global RNG and the run would not be reproducible. The other
    stochastic samplers take a generator at each step instead (pipeline.py).
    """
    spec = SAMPLERS[resolve_sampler(name)]
    accepted = _init_params(spec.cls)
    overrides: dict[str, Any] = {k: False for k in _SIGMA_FLAGS if k in accepted}
    overrides.update(spec.overrides)
    overrides.update(_SCHEDULE_OVERRIDES.get(effective_schedule(name, schedule), {}))
    if "noise_sampler_seed" in accepted and seeds:
        overrides["noise_sampler_seed"] = list(seeds) if len(seeds) > 1 else int(seeds[0])
    base = {k: v for k, v in dict(config).items() if not k.startswith("_") and k in accepted}
    return _from_config(spec.cls, base, overrides)


def step_kwargs(scheduler: Scheduler, *, eta: float, generator: Any) -> dict[str, Any]:
    """The extra arguments scheduler.step takes: `eta` (DDIM) and `generator` (stochastic)."""
    params = set(inspect.signature(scheduler.step).parameters)
    kwargs: dict[str, Any] = {}
    if "eta" in params:
        kwargs["eta"] = eta
    if "generator" in params:
        kwargs["generator"] = generator
    return kwargs


def takes_eta(name: str) -> bool:
    """Whether the sampler's step uses eta (AUTOMATIC1111 records Eta only then)."""
    return "eta" in inspect.signature(SAMPLERS[resolve_sampler(name)].cls.step).parameters
