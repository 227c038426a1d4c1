"""What the CuPy target does not print: refused at build, at the construct's place in the spec."""
from __future__ import annotations

from pathlib import Path

from ...frontend.diagnostics import Diagnostics, SpecError
from ...plan.ir import Plan


_FORM = {"cupy": "CUDA kernel", "lava": "Lava process"}


def input_problems(plan: Plan, target: str = "cupy") -> list[tuple[object, str]]:
    """(place, message) of each input the target has no form for yet: a poisson input with
    counts = true (CuPy, Lava) and a poisson_drive (Lava)."""
    found = []
    for s in plan.sources:
        if s.kind == "poisson" and s.counts:
            found.append((s.loc, f"input {s.name}: poisson(..., counts = true) has no {_FORM[target]} yet; use --target "
                                 "numpy, or counts = false (at most one spike a step)"))
    for d in plan.drives if target != "cupy" else ():  # (the CuPy target adds the NumPy runtime's counts: host.py)
        found.append((d.loc, f"input {d.name}: poisson_drive(...) has no {_FORM[target]} yet; use --target numpy"))
    return found


def monitor_problems(plan: Plan, target: str = "cupy") -> list[tuple[object, str]]:
    """(place, message) of each synapse monitor the target does not record: the Lava target's
    (it reads a connection's weights only once a run is over; the CuPy target records them)."""
    if target == "cupy":
        return []
    return [(m.loc, f"monitor {', '.join(m.variables)} of {m.population}: the Lava target does not record synapse "
                    "state during a run; use --target numpy or cupy (or read the final weights after the run with "
                    f"the Lava package's Graph.weights({m.population!r}))")
            for m in plan.monitors if m.kind == "synapses"]


def refractory_problems(plan: Plan, target: str = "cupy") -> list[tuple[object, str]]:
    """(place, message) of each population whose refractory period differs from neuron to neuron:
    the CuPy kernels hold one period a population."""
    if target != "cupy":
        return []
    found = []
    for pop in plan.populations:
        per_neuron = {prm.name for prm in pop.params if prm.value is None}
        if pop.refractory is not None and {x.name for x in pop.refractory.free_symbols} & per_neuron:
            found.append((pop.loc, f"population {pop.name}: a refractory period of its own for each neuron has no "
                                   "CUDA kernel yet; use --target numpy or c, or one period for the population"))
    return found


def check_inputs(plan: Plan, target: str = "cupy") -> None:
    """SpecError naming each input (and synapse monitor: monitor_problems; per-neuron refractory
    period: refractory_problems) the target refuses (file:line:col, with the line)."""
    found = input_problems(plan, target) + monitor_problems(plan, target) + refractory_problems(plan, target)
    if not found:
        return
    diags = Diagnostics()
    for loc, message in found:
        if loc is not None and loc.file not in diags.sources:
            try:
                diags.sources[loc.file] = Path(loc.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, ValueError):
                pass
        diags.error(loc, f"target {target}: {message}")
    raise SpecError(diags)
