"""The plan of a ``train { method = bptt }`` block: what is trained, and its backward pass.

Training runs the network with the simulator's own step (docs/semantics.md):
every connection delivers the spikes of the previous step, so a spike of the
input at step t reaches the first layer at t + 1. The trained weights are the
per-synapse weight of each all-to-all connection whose ``on_pre`` adds it to a
variable of the target (``I_post += w``); optionally a bias per neuron on that
variable. The backward statements come from :mod:`.gradients`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from ..diagnostics import Diagnostics, SpecError
from ..model import Call, Model, Number, Settings, Word
from .build import make_plan
from .gradients import GradientError, StepGradient, step_gradient, surrogate
from .ir import Plan


@dataclass
class TrainedConnection:
    name: str
    source: str
    target: str
    variable: str  # qualified name of the target variable the weight adds to
    is_input: bool  # True: an input variable (reset every step); False: a state variable
    weight: str  # qualified name of the per-synapse weight array in the simulator
    n_pre: int
    n_post: int


@dataclass
class TrainingPlan:
    name: str
    plan: Plan
    source: str  # the input the data drives
    n_in: int
    output: str
    layers: list[StepGradient]
    connections: list[TrainedConnection]
    surrogate: str
    surrogate_params: dict[str, float]
    dspike: sympy.Basic  # derivative of the spike with respect to the margin c
    smooth: Optional[sympy.Basic]  # a smooth spike with that derivative (gradient checks)
    detach_reset: bool
    bias: bool
    settings: dict = field(default_factory=dict)


def _word(value, default: str) -> str:
    return value.value if isinstance(value, Word) else (value.name if isinstance(value, Call) else default)


def _number(value, default: float) -> float:
    return value.value if isinstance(value, Number) else default


def _kwargs(value) -> dict[str, float]:
    if isinstance(value, Call):
        return {k: v.value for k, v in value.kwargs.items() if isinstance(v, Number)}
    return {}


def output_of(loss) -> Optional[str]:
    """The population a loss reads: cross_entropy(spike_count(out)) -> out."""
    if isinstance(loss, Call):
        for a in loss.args:
            if isinstance(a, Word):
                return a.value
            found = output_of(a)
            if found:
                return found
    return None


def make_training_plan(model: Model, train: Settings, diags: Optional[Diagnostics] = None) -> TrainingPlan:
    diags = diags or Diagnostics()
    values = train.values
    network = _word(values.get("network"), "")
    plan = make_plan(model, network, diags)
    pops = {p.name: p for p in plan.populations}

    def fail(message: str, key: str = "network"):
        diags.error(train.locs.get(key, train.loc), message)
        raise SpecError(diags)

    if not plan.sources:
        fail(f"network '{network}' has no input for the data to drive (add: input x = poisson(64, rate = 0 Hz))")
    source = _word(values.get("input"), plan.sources[0].name)
    if source not in {s.name for s in plan.sources}:
        fail(f"'{source}' is not an input of network '{network}'", "input")
    output = output_of(values.get("loss")) or _word(values.get("readout"), plan.populations[-1].name)
    if output not in pops:
        fail(f"the loss reads '{output}', which is not a population of network '{network}'", "loss")

    connections = []
    for c in plan.connections:
        if c.linear is None or c.pattern != "all_to_all" or c.condition is not None or c.delay != 1 or c.delay_array:
            fail(f"connection {c.source} -> {c.target} cannot be trained: BPTT trains all-to-all connections "
                 "without delays whose on_pre adds a weight to a variable (on_pre: I_post += w)")
        target, weight = c.linear
        weights = [s for s in weight.free_symbols if s.name in c.state]
        if len(weights) != 1 or weight != weights[0]:
            fail(f"connection {c.source} -> {c.target}: on_pre must add one synaptic weight as it is (I_post += w) to be trained")
        post = pops[c.target]
        is_input = target in {a.name for a in post.inputs}
        connections.append(TrainedConnection(name=c.name, source=c.source, target=c.target, variable=target,
                                             is_input=is_input, weight=weights[0].name, n_pre=c.n_pre, n_post=c.n_post))
    layers = []
    for pop in plan.populations:
        try:
            layers.append(step_gradient(pop))
        except GradientError as e:
            fail(str(e))
    sur = values.get("surrogate")
    name = _word(sur, "fast_sigmoid")
    try:
        dspike, smooth = surrogate(name, _kwargs(sur))
    except GradientError as e:
        fail(str(e), "surrogate")
    return TrainingPlan(
        name=train.name, plan=plan, source=source, n_in=next(s.size for s in plan.sources if s.name == source),
        output=output, layers=layers, connections=connections, surrogate=name, surrogate_params=_kwargs(sur),
        dspike=dspike, smooth=smooth, detach_reset=_word(values.get("detach_reset"), "false") == "true",
        bias=_word(values.get("bias"), "true") == "true", settings=dict(values))
