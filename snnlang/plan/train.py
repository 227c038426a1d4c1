"""The plan of a ``train { method = bptt | convert }`` block: what is trained, and its backward pass.

Training runs the network with the simulator's own step (docs/semantics.md):
every connection delivers the spikes of the previous step, so a spike of the
input at step t reaches the first layer at t + 1 and a layer l at t + l. The
trained weights are the per-synapse weight of each all-to-all connection whose
``on_pre`` adds it, times a constant, to a variable of the target
(``I_post += w``, ``I_syn_post += w * nA``); and a bias per neuron on each
input variable of a trained population (``bias = false`` turns it off). The
backward statements come from :mod:`.gradients`.

The plan also fixes the order of the computation: populations are grouped into
the strongly connected components of the connection graph (a recurrent layer is
one group; a feedforward layer its own), in topological order. Connections
between groups carry a whole sample's spikes at once (one matrix product over
all steps, shifted by the one-step delivery); only connections inside a group
are delivered step by step. This is exact, since every connection delivers
the previous step's spikes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import sympy

from ..frontend.diagnostics import Diagnostics, SpecError
from ..frontend.model import Model, Settings
from ..frontend.settings import Values, training
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
    scale: float = 1.0  # what one spike adds is scale * w
    recurrent: bool = False  # source and target in one group: delivered step by step


@dataclass
class TrainingPlan:
    name: str
    plan: Plan
    method: str
    source: str  # the input the data drives
    n_in: int
    output: str
    layers: list[StepGradient]
    connections: list[TrainedConnection]
    groups: list[list[str]]  # populations, in the order their time loops run
    surrogate: str
    surrogate_params: dict[str, float]
    dspike: sympy.Basic  # derivative of the spike with respect to the margin c
    smooth: Optional[sympy.Basic]  # a smooth spike with that derivative (gradient checks)
    detach_reset: bool
    bias: bool
    loss: str = "cross_entropy"
    readout: str = "spike_count"
    loss_params: dict = field(default_factory=dict)
    settings: Optional[Values] = None  # the train block's typed settings (snnlang.frontend.settings.TRAIN)


def groups_of(populations: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components of the population graph, in topological order."""
    reach = {p: {p} for p in populations}
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            for p in populations:
                if a in reach[p] and b not in reach[p]:
                    reach[p].add(b)
                    changed = True
    groups: list[list[str]] = []
    seen: set[str] = set()
    for p in populations:
        if p not in seen:
            group = [q for q in populations if q in reach[p] and p in reach[q]]
            groups.append(group)
            seen.update(group)
    # topological order: a group before every group it reaches (stable for ties)
    ordered: list[list[str]] = []
    remaining = list(groups)
    while remaining:
        for g in remaining:
            if not any(h is not g and g[0] in reach[h[0]] for h in remaining):
                ordered.append(g)
                remaining.remove(g)
                break
    return ordered


def make_training_plan(model: Model, train: Settings, diags: Optional[Diagnostics] = None) -> TrainingPlan:
    diags = diags or Diagnostics()
    settings = training(model, train)  # checked, defaults applied; SpecError on a bad setting
    network = settings.network
    plan = make_plan(model, network, diags)
    pops = {p.name: p for p in plan.populations}

    def fail(message: str, key: str = "network"):
        diags.error(settings.where(key), message)
        raise SpecError(diags)

    if not plan.sources:
        fail(f"network '{network}' has no input for the data to drive (add: input x = poisson(64, rate = 0 Hz))")
    source = settings.input or plan.sources[0].name
    loss, readout = settings.loss, settings.loss.readout
    output = readout.population or settings.readout or plan.populations[-1].name
    loss_params = loss.arguments(skip=("readout",)) | readout.arguments(skip=("population",))

    connections = []
    for c in plan.connections:
        partial = getattr(c, "pre_offset", 0) or getattr(c, "post_offset", 0) or \
            (getattr(c, "pre_rows", 0) or c.n_pre) != c.n_pre or (getattr(c, "post_rows", 0) or c.n_post) != c.n_post
        if c.linear is None or c.pattern != "all_to_all" or c.condition is not None or c.delay != 1 or c.delay_array \
                or partial:
            fail(f"connection {c.source} -> {c.target} cannot be trained: training needs all-to-all connections "
                 "between whole populations, without delays, whose on_pre adds a weight to a variable "
                 "(on_pre: I_post += w)")
        target, weight = c.linear
        weights = [s for s in weight.free_symbols if s.name in c.state]
        scale = sympy.simplify(weight / weights[0]) if len(weights) == 1 else None
        if scale is None or scale.free_symbols or not scale.is_number or scale == 0:
            fail(f"connection {c.source} -> {c.target}: on_pre must add one synaptic weight times a constant "
                 "(I_post += w, I_syn_post += w * nA) to be trained")
        post = pops[c.target]
        is_input = target in {a.name for a in post.inputs}
        connections.append(TrainedConnection(name=c.name, source=c.source, target=c.target, variable=target,
                                             is_input=is_input, weight=weights[0].name, n_pre=c.n_pre,
                                             n_post=c.n_post, scale=float(scale)))
    names = [p.name for p in plan.populations]
    groups = groups_of(names, [(c.source, c.target) for c in connections if c.source in pops])
    group_of = {p: k for k, g in enumerate(groups) for p in g}
    for c in connections:
        c.recurrent = c.source in group_of and group_of[c.source] == group_of[c.target]
    layers = []
    for pop in plan.populations:
        try:
            layers.append(step_gradient(pop))
        except GradientError as e:
            fail(str(e))
    by_name = {layer.population: layer for layer in layers}
    layers = [by_name[p] for g in groups for p in g]
    sur = settings.surrogate
    try:
        dspike, smooth = surrogate(sur.name, sur.arguments())
    except GradientError as e:
        fail(str(e), "surrogate")
    if settings.method == "convert" and any(c.recurrent for c in connections):
        fail("method = convert needs a feedforward network: a recurrent connection has no ReLU counterpart", "method")
    return TrainingPlan(
        name=train.name, plan=plan, method=settings.method, source=source,
        n_in=next(s.size for s in plan.sources if s.name == source), output=output, layers=layers,
        connections=connections, groups=groups, surrogate=sur.name, surrogate_params=sur.arguments(),
        dspike=dspike, smooth=smooth, detach_reset=settings.detach_reset, bias=settings.bias, loss=loss.name,
        readout=readout.name, loss_params=loss_params, settings=settings)


__all__ = ["TrainingPlan", "TrainedConnection", "make_training_plan", "groups_of"]
