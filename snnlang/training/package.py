"""The generated package a train block runs: the simulator plus ``training.py``, built once and cached.

It is cached as every package is (:func:`snnlang.driver.package`): by the spec's
files as the compiler reads them, the train block, and the whole compiler's source.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Optional

from ..frontend.model import Model, Settings


@dataclass
class TrainingPackage:
    tp: object  # TrainingPlan
    package: ModuleType  # the simulator package (Network, ...)
    training: ModuleType  # its training module (forward, backward, initial, ...)
    folder: Path


def training_package(model: Model, block: Settings, spec: Optional[Path] = None) -> TrainingPackage:
    """Plan, emit (cached) and import the package of one train block.

    ``spec``: the file the model was loaded from (default: ``model.source``, as the
    working directory shows it).
    """
    from ..build import render, render_training
    from ..driver import package
    from ..plan.train import make_training_plan

    tp = make_training_plan(model, block)

    def files(_model: Model) -> dict[str, str]:
        built = render(tp.plan, "numpy", "net")
        built.update(render_training(tp, "net"))
        return built

    module, _ = package(Path(model.source) if spec is None else spec, "numpy", "train", block.name,
                        model=model, files=files)
    training = importlib.import_module(module.__name__ + ".training")
    return TrainingPackage(tp=tp, package=module, training=training, folder=Path(module.__path__[0]))


def load_block(spec: Path, name: Optional[str] = None) -> tuple[Model, Settings]:
    """The model of a spec and one of its train blocks (the first by default)."""
    from ..frontend.diagnostics import Diagnostics, SpecError
    from ..driver import load
    from ..frontend.model import Loc

    model = load(spec)
    if not model.trainings:
        diags = Diagnostics()
        diags.error(Loc(file=str(spec), line=1, column=1), "the spec has no train block")
        raise SpecError(diags)
    if name is not None and name not in model.trainings:
        raise KeyError(f"no train block '{name}' in {spec}; blocks: {', '.join(model.trainings)}")
    return model, model.trainings[name] if name else next(iter(model.trainings.values()))
