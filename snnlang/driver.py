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
    from .frontend.diagnostics import Diagnostics
    from .frontend.model import Model
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
        refuse_oversized(path, folder)  # built under another limit (--max-memory) than this run's
    else:
        if model is None:
            model = load(path)  # reports a spec that cannot be read or parsed, with its place
        built = files(model) if files is not None else render_package(model, target)
        if key is not None and model.spec_hash == key.spec_hash:
            folder = cache.publish(built, entry)
        else:  # not cacheable: the spec changed while it was compiled, or it has no key
            folder = cache.private_folder(built)
    # a published package has a name of its own; a private one is named after its folder
    tag = key.key if key is not None and folder.parent == entry else re.sub(r"\W", "_", folder.parent.name)
    module = import_package(folder, f"snn_{kind}_{tag}")
    return module, time.perf_counter() - start


def render_package(model: "Model", target: str, extra=None) -> dict[str, str]:
    """The files of a cached package: the plan rendered for ``target``, its memory estimate, and
    the files ``extra(plan)`` adds (``snnlang run``: what the plan decided)."""
    import json

    from .build import render
    from .plan import make_plan
    from .plan.memory import estimate

    plan = make_plan(model)  # refuses a network over the memory limit (plan/memory.py)
    found = estimate(plan)
    files = render(plan, target, "net")
    # the estimate, for runs that find the package in the cache: numbers only
    files[MEMORY_FILE] = json.dumps({"network": found.network, "steps": found.steps, "bytes": found.total,
                                     "fixed": found.fixed, "per_step": found.per_step}) + "\n"
    if extra is not None:
        files.update(extra(plan))
    return files


def memory_lines(model: "Model") -> list[str]:
    """``network 'cuba': about 56 MiB for 10000 steps (...); the limit is 12 GiB (...)``: the
    memory estimate (plan/memory.py) of each network of a checked model, for ``check --emit-ir``.
    A network that cannot be planned says why instead."""
    from .frontend.diagnostics import Diagnostics, SpecError
    from .limits import format_bytes, memory_limit
    from .plan import make_plan
    from .plan.memory import estimate

    limit, source = memory_limit()
    lines = []
    for network in model.networks:
        try:
            found = estimate(make_plan(model, network, Diagnostics(), check_memory=False))
        except SpecError as e:
            first = e.diagnostics.errors[0] if e.diagnostics.errors else None
            lines.append(f"network '{network}': no estimate, it cannot be planned"
                         + (f" ({first.loc}: {first.message})" if first else ""))
            continue
        over = " - over it: build and run refuse it (--max-memory allows more)" if found.total > limit else ""
        lines.append(f"{found.summary()}; the limit is {format_bytes(limit)} ({source}){over}")
    return lines


#: The memory estimate (plan/memory.py) of a cached run package, beside its files.
MEMORY_FILE = "memory.json"


def refuse_oversized(path: str | Path, folder: Path, steps: Optional[int] = None) -> None:
    """Refuse (SpecError, at the part of the spec that needs the most) a run of the package in
    ``folder`` for ``steps`` (default: the spec's) that would need more memory than the limit,
    by the estimate stored with it. Only the numbers are read unless it is over: then the
    spec is planned again, to say where."""
    import json

    try:
        stored = json.loads((folder / MEMORY_FILE).read_text(encoding="utf-8"))
        needed = int(stored["fixed"]) + int(stored["per_step"]) * int(stored["steps"] if steps is None else steps)
    except (OSError, ValueError, KeyError, TypeError):
        return  # a package without an estimate (built otherwise): nothing to go by
    from .limits import memory_limit

    if needed <= memory_limit()[0]:
        return
    from .frontend.diagnostics import Diagnostics
    from .plan import make_plan
    from .plan.memory import enforce

    model = load(path)
    network = stored.get("network")
    diags = Diagnostics()
    plan = make_plan(model, network if network in model.networks else None, diags, check_memory=False)
    enforce(plan, model.networks[plan.network], diags, steps)


def import_package(folder: Path, name: str) -> ModuleType:
    """Import the generated package in ``folder`` under the module name ``name``."""
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def text_spec(text: str) -> Path:
    """The file of a spec given as text (a notebook cell, a string in a program): written once
    into the cache, ``<cache>/specs/<hash>.snn``, named by the hash of its text, so the same
    text is the same file and its package is cached like any spec's. The file appears whole
    (written beside it and renamed), so a concurrent reader never sees part of it."""
    import hashlib
    import os
    import tempfile

    data = text.encode("utf-8", "surrogateescape")
    folder = cache.cache_dir() / "specs"
    path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.snn"
    try:
        if path.read_bytes() == data:
            return path
    except OSError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".spec-", suffix=".snn", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
