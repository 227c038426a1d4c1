"""The generated package a train block runs: the simulator plus ``training.py``, built once and cached.

The cache key is the spec's hash, the train block, the snnlang version and a hash
of the code generators themselves, so that a changed backend never reuses a
stale package.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Optional

from ..model import Model, Settings


@dataclass
class TrainingPackage:
    tp: object  # TrainingPlan
    package: ModuleType  # the simulator package (Network, ...)
    training: ModuleType  # its training module (forward, backward, initial, ...)
    folder: Path


def training_package(model: Model, block: Settings) -> TrainingPackage:
    """Plan, emit (cached) and import the package of one train block."""
    from .. import __version__
    from ..build import render, render_training, write_package
    from ..plan.train import make_training_plan
    from ..cache import cache_dir, generator_hash
    from ..run import _import

    tp = make_training_plan(model, block)
    name = f"train_{model.spec_hash}_{block.name}_{__version__.replace('.', '_')}_{generator_hash()}"
    folder = cache_dir() / name / "net"
    if not (folder / "training.py").exists():
        files = render(tp.plan, "numpy", "net")
        files.update(render_training(tp, "net"))
        write_package(files, folder)
    package = _import(folder, name)
    training = importlib.import_module(name + ".training")
    return TrainingPackage(tp=tp, package=package, training=training, folder=folder)


def load_block(spec: Path, name: Optional[str] = None) -> tuple[Model, Settings]:
    """The model of a spec and one of its train blocks (the first by default)."""
    from ..diagnostics import Diagnostics, SpecError
    from ..frontend import load
    from ..model import Loc

    model = load(spec)
    if not model.trainings:
        diags = Diagnostics()
        diags.error(Loc(file=str(spec), line=1, column=1), "the spec has no train block")
        raise SpecError(diags)
    if name is not None and name not in model.trainings:
        raise KeyError(f"no train block '{name}' in {spec}; blocks: {', '.join(model.trainings)}")
    return model, model.trainings[name] if name else next(iter(model.trainings.values()))
