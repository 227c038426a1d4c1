"""The driver: the one way from a spec to a checked model, a plan and a built package.

``check``, ``build``, ``run`` and ``train`` all come through here:

* :func:`analyse` / :func:`load`: the checked model (the front end: parse, lower, check);
* :func:`plan`: the plan of one network;
* :func:`package`: the generated package, built once into the cache
  (:mod:`snnlang.cache`) and imported. A cached package is found from the spec's
  files alone, so the compiler (and SymPy) loads only when a package has to be built.
"""
from __future__ import annotations

import importlib.util
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Optional

from . import cache

if TYPE_CHECKING:  # the model and the plan load SymPy: only when a spec is compiled
    from .diagnostics import Diagnostics
    from .model import Model
    from .plan import Plan


def analyse(path: str | Path) -> tuple[Optional["Model"], "Diagnostics"]:
    """The model of a spec and every diagnostic found; the model is None when it has errors."""
    from .frontend import analyse as front

    return front(path)


def load(path: str | Path) -> "Model":
    """The checked model of a spec; raises SpecError with every diagnostic."""
    from .frontend import load as front

    return front(path)


def plan(path: str | Path, network: Optional[str] = None) -> "Plan":
    """The plan of one network of a spec (the simulated one by default)."""
    from .plan import make_plan

    return make_plan(load(path), network)


def package(path: str | Path, target: str = "numpy", *parts: str, model: Optional["Model"] = None,
            files: Optional[Callable[["Model"], dict[str, str]]] = None) -> tuple[ModuleType, float]:
    """The generated package of a spec for ``target`` (and ``parts``, such as ``"train", block``),
    imported, and the seconds it took to find or build and import it.

    ``model``: the checked model of the spec, when the caller has it already (else it is
    loaded only if the package must be built). ``files``: what to build from the model,
    file name -> text of a package named ``net`` (default: the plan of the simulated
    network, rendered for ``target``). Callers that pass ``files`` name what it depends
    on in ``parts``. Raises SpecError when the spec has errors.
    """
    start = time.perf_counter()
    path = Path(path)
    key = cache.spec_key(path, target, *parts)
    if key is not None and model is not None and model.spec_hash != key.spec_hash:
        key = None  # the files changed since the model was loaded: its package is not theirs
    kind = parts[0] if parts and parts[0].isidentifier() else "run"
    entry = cache.cache_dir() / f"{kind}_{key.key}" if key is not None else None
    if entry is not None and cache.is_complete(entry):
        folder = entry / "net"
    else:
        if model is None:
            model = load(path)  # reports a spec that cannot be read or parsed, with its place
        built = files(model) if files is not None else _render(model, target)
        if key is not None and model.spec_hash == key.spec_hash:
            folder = cache.publish(built, entry)
        else:  # not cacheable: the spec changed while it was compiled, or it has no key
            folder = cache.private_folder(built)
    # a published package has a name of its own; a private one is named after its folder
    tag = key.key if key is not None and folder.parent == entry else re.sub(r"\W", "_", folder.parent.name)
    module = import_package(folder, f"snn_{kind}_{tag}")
    return module, time.perf_counter() - start


def _render(model: "Model", target: str) -> dict[str, str]:
    from .build import render
    from .plan import make_plan

    return render(make_plan(model), target, "net")


def import_package(folder: Path, name: str) -> ModuleType:
    """Import the generated package in ``folder`` under the module name ``name``."""
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
