"""``snnlang train``: supervised (BPTT, conversion) and unsupervised (STDP) training from a spec."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


def train(spec: Path, out: Path, name: Optional[str] = None, epochs: Optional[int] = None,
          resume: bool = False, seed: Optional[int] = None, progress: bool = False) -> dict:
    from ..diagnostics import Diagnostics, SpecError
    from ..frontend import load
    from ..model import Loc, Word

    model = load(spec)
    if not model.trainings:
        diags = Diagnostics()
        diags.error(Loc(file=str(spec), line=1, column=1), "the spec has no train block")
        raise SpecError(diags)
    block = model.trainings[name] if name else next(iter(model.trainings.values()))
    method = block.values["method"].value if isinstance(block.values.get("method"), Word) else "bptt"
    if method == "bptt":
        from .bptt import train_bptt

        return train_bptt(spec, model, block, out, epochs=epochs, resume=resume, seed=seed, progress=progress)
    raise NotImplementedError(f"method = {method} is not available yet")
