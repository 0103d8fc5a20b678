"""Job kinds: collected from the `SPEC`/`SPECS` of modules under difflab.lab and difflab.diffusion.

No registry file needs editing when a feature adds a kind: the module declares its KindSpec
and this walks the packages once per process.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import lru_cache
from typing import Any

from difflab.runtime import KindSpec

log = logging.getLogger(__name__)

KIND_PACKAGES = ("difflab.jobs.kinds", "difflab.diffusion", "difflab.lab")


class UnknownKind(KeyError):
    pass


def _specs_of(module: Any) -> list[KindSpec]:
    specs: list[KindSpec] = []
    spec = getattr(module, "SPEC", None)
    if isinstance(spec, KindSpec):
        specs.append(spec)
    specs.extend(s for s in getattr(module, "SPECS", []) if isinstance(s, KindSpec))
    return specs


@lru_cache
def all_kinds() -> dict[str, KindSpec]:
    kinds: dict[str, KindSpec] = {}
    for package_name in KIND_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, package_name + "."):
            module = importlib.import_module(info.name)
            for spec in _specs_of(module):
                if spec.name in kinds:
                    raise RuntimeError(f"job kind {spec.name!r} is declared twice")
                kinds[spec.name] = spec
    return dict(sorted(kinds.items()))


def get_kind(name: str) -> KindSpec:
    try:
        return all_kinds()[name]
    except KeyError:
        raise UnknownKind(name) from None
