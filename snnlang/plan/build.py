"""Plan: the mathematics of a checked Model, decided once for every target.

For each population: parameters (run-time values), initial values, the
integration scheme and its update statements, spike condition, reset and
refractoriness. For each connection: how it is built, stored and propagated,
its delays, plasticity statements and traces. Randomness gets one stream per
use, so every target draws the very same numbers.
"""
from __future__ import annotations

import dataclasses
import operator
from contextvars import ContextVar
from pathlib import Path
from typing import Optional

import sympy

from .. import __version__
from ..frontend.diagnostics import Diagnostics, SpecError
from ..frontend.dims import DimensionError, dimension
from ..frontend.functions import is_random, normal, rand, randn, symbol, uniform
from ..frontend.model import Connection, Model, Network, NeuronModel, Settings, SynapseModel, Text
from ..frontend.settings import simulation
from ..frontend.dims import BaseUnit
from ..frontend.units import DIMENSIONLESS, format_dim
from .integrate import DT, IntegrationError, integrate
from .schedule import make_schedule
from .symbols import SymbolTable
from .validate import time_constants
from .ir import (
    ArrayInit, Assign, ConnectionPlan, ConstantPlan, Draw, DrivePlan, EventStatement, FileEdges, MonitorPlan, Param, Plan,
    PopulationPlan, Propagator, SourcePlan,
)

I, J = symbol("i"), symbol("j")
#: ``snnlang build --precision``: the arithmetic, over the simulate block's ``precision`` (None: the spec's)
PRECISION: ContextVar[Optional[str]] = ContextVar("precision", default=None)
HALF = sympy.Rational(1, 2)


def si(expr: sympy.Basic) -> sympy.Basic:
    """The expression in plain SI numbers: base units replaced by 1."""
    units = expr.atoms(BaseUnit)
    return expr.xreplace({u: sympy.Integer(1) for u in units}) if units else expr


def steps_of(duration: sympy.Basic) -> sympy.Basic:
    """A duration as a whole number of steps, rounded to nearest."""
    return sympy.floor(duration / DT + HALF)


def _brian2_dropped(on_pre: list[EventStatement], pop: PopulationPlan, mask: str, indexed: dict,
                    masks: dict) -> list[EventStatement]:
    """Brian2 drops what a synapse adds to a variable marked ``unless refractory`` of a refractory
    target (its generated code adds only where ``not_refractory``). With ``refractory ... as brian2``
    the plan does the same: each on_pre addition to a gated variable of the target is multiplied by
    ``not refractory_post``, read with Brian2's timing (the targets' refractory_reads)."""
    free = sympy.Piecewise((1, sympy.Le(symbol(mask), 0)), (0, True))
    out = []
    for e in on_pre:
        if e.side == "target" and e.index == "post" and e.target in pop.gated:
            e = dataclasses.replace(e, expr=e.expr * free)
            indexed[mask] = "post"
            masks[mask] = pop.name
        out.append(e)
    return out


def _refractory_steps(period: sympy.Basic, in_steps: bool, convention: str) -> sympy.Basic:
    """The steps a neuron stays refractory after its spike step. ``nest``: R = round(t_ref / dt) (or
    the steps given). ``brian2``: one fewer than Brian2's ``timestep(t_ref, dt)`` = floor(t_ref / dt
    + 0.001), never below 0: Brian2 integrates again in the step where (t - lastspike) / dt reaches
    it, so a neuron that spikes in step n may spike again in step n + R."""
    if convention != "brian2":
        return sympy.floor(period + HALF) if in_steps else steps_of(period)
    counted = sympy.floor(period + HALF) if in_steps else sympy.floor(period / DT + sympy.Rational(1, 1000))
    return sympy.Max(0, counted - 1)


class Planner:
    def __init__(self, model: Model, diags: Diagnostics):
        self.model = model
        self.diags = diags
        self.stream = 0
        self.symbols = SymbolTable()

    def next_stream(self) -> int:
        self.stream += 1
        return self.stream

    # ---- randomness ----------------------------------------------------------------
    def draws(self, expr: sympy.Basic, prefix: str) -> tuple[sympy.Basic, list[Draw]]:
        """Replace each random call by a per-element draw from its own stream."""
        found: list[Draw] = []

        def draw(kind: str) -> sympy.Symbol:
            d = Draw(name=self.symbols(prefix, f"r{len(found) + 1}"), kind=kind, stream=self.next_stream())
            found.append(d)
            return symbol(d.name)

        def rewrite(e: sympy.Basic) -> sympy.Basic:
            if e.func == rand:
                return draw("uniform")
            if e.func == randn:
                return draw("normal")
            if not e.args:
                return e
            args = [rewrite(a) for a in e.args]
            if e.func == uniform:
                return args[0] + (args[1] - args[0]) * draw("uniform")
            if e.func == normal:
                return args[0] + args[1] * draw("normal")
            return e.func(*args)

        return rewrite(expr), found

    # ---- populations -------------------------------------------------------------------
    def population(self, pop, neuron: NeuronModel) -> PopulationPlan:
        name, N = pop.name, pop.size
        local = {v.name: self.symbols.spec(name, v.name) for v in neuron.variables()}
        q = _qualifier(local, {"N": sympy.Integer(N), **self.fixed_values})
        overrides = {o.name: o.value for o in pop.overrides}
        aliases = _alias_map(neuron)
        keys: dict = {symbol("N"): sympy.Integer(N)}  # earlier parameters, by their keys (derived parameters)

        params: list[Param] = []
        arrays: list[ArrayInit] = []
        known: dict[str, sympy.Basic] = {}
        units = _units(neuron.parameters)
        for v in neuron.parameters:
            expr = si(overrides.get(v.name, v.value).value).xreplace(self.fixed_subs)
            param = self.scalar_param(name, v.name, local[v.name], units[v.name], expr, known, keys)
            if param is not None:
                params.append(param)
            else:
                e, draws = self.draws(q(expr), local[v.name])
                params.append(Param(key=f"{name}.{v.name}", name=local[v.name], value=None, unit=units[v.name]))
                arrays.append(ArrayInit(name=local[v.name], size="N", expr=e, draws=draws))
        for v in neuron.state:
            expr = si(overrides.get(v.name, v.value).value)
            e, draws = self.draws(q(expr), local[v.name])
            arrays.append(ArrayInit(name=local[v.name], size="N", expr=e, draws=draws))

        inputs, input_draws = [], []
        for v in neuron.inputs:
            expr = si(overrides.get(v.name, v.value).value)
            e, draws = self.draws(q(expr), local[v.name])
            inputs.append(ArrayInit(name=local[v.name], size="N", expr=e, draws=draws))
            input_draws += draws

        param_names = {v.name for v in neuron.parameters}
        state_names = [v.name for v in neuron.state]
        gated: list[str] = []
        constants: list[Assign] = []
        statements: list[Assign] = []
        refractory = None
        propagator = None
        if neuron.refractory is not None:
            refractory = q(_refractory_steps(si(neuron.refractory.value), neuron.refractory_in_steps,
                                             neuron.refractory_convention))
        active = self.symbols(name, "active") if refractory is not None else None

        if neuron.update:
            method, reason = "update", "discrete update, as written"
            for s in neuron.update:
                expr = _apply_op(s.op, symbol(s.target), si(_expand_aliases(s.value.value, aliases)))
                statements.append(Assign(local[s.target], q(expr), where=active))
                if s.target not in gated and active:
                    gated.append(local[s.target])
        else:
            odes = {o.var: si(_expand_aliases(o.rhs.value, aliases)) for o in neuron.odes}
            try:
                step = integrate(odes, param_names, {v.name for v in neuron.inputs} | (set(state_names) - set(odes)),
                                 neuron.method, prefix="")
            except IntegrationError as e:
                self.diags.error(neuron.method_loc or neuron.loc, f"method {neuron.method} cannot integrate neuron "
                                 f"'{neuron.name}': {e}")
                raise SpecError(self.diags)
            method, reason = step.method, step.reason
            temp = {n: self.symbols(name, n) for n, _ in step.constants + step.statements}
            qt = _qualifier({**local, **temp}, {"N": sympy.Integer(N)})
            constants = [Assign(temp[n], qt(e)) for n, e in step.constants]
            statements = [Assign(temp[n], qt(e)) for n, e in step.statements]
            gated_vars = {o.var for o in neuron.odes if o.unless_refractory} if active else set()
            for var, new in step.updates.items():
                statements.append(Assign(local[var], symbol(temp[new]), where=active if var in gated_vars else None))
                if var in gated_vars:
                    gated.append(local[var])
            # one matrix for the population: its entries are the same for every neuron
            per_neuron = {symbol(prm.name) for prm in params if prm.value is None}
            entries = {temp[const] for const in step.matrix.values()}
            if len(step.updates) >= 2 and step.matrix and not any(
                    a.expr.free_symbols & per_neuron for a in constants if a.target in entries):
                propagator = _propagator(step, temp, qt)

        threshold = q(si(_expand_aliases(neuron.threshold.value, aliases))) if neuron.threshold is not None else None
        reset = [Assign(local[s.target], q(_apply_op(s.op, symbol(s.target), si(_expand_aliases(s.value.value, aliases)))),
                        where=self.symbols(name, "spiked")) for s in neuron.reset]
        finite = [local[v] for v in state_names]
        invariant = {symbol(prm.name) for prm in params} | {DT}
        statements = hoist(statements, constants, invariant, name, self.symbols)
        return PopulationPlan(
            name=name, neuron=neuron.name, size=N, params=params, arrays=arrays,
            state=[local[v] for v in state_names], inputs=inputs, input_draws=input_draws,
            constants=constants, integrate=statements, method=method, method_reason=reason,
            threshold=threshold, reset=reset, refractory=refractory, gated=gated,
            finite_check=finite, local=local, propagator=propagator,
            refractory_uniform=refractory is not None and not (
                refractory.free_symbols & {symbol(prm.name) for prm in params if prm.value is None}),
            refractory_convention=neuron.refractory_convention)

    # ---- inputs ----------------------------------------------------------------------
    def source(self, inp) -> SourcePlan:
        call = inp.spec
        if inp.kind == "poisson":
            rate = call.kwargs["rate"]
            counts = call.kwargs.get("counts")
            return SourcePlan(name=inp.name, kind="poisson", size=inp.size, rate=sympy.Float(rate.value),
                              stream=self.next_stream(), rate_key=f"{inp.name}.rate",
                              counts=getattr(counts, "value", "false") == "true")
        if inp.kind == "spike_times":
            files = {k: v.value for k, v in call.kwargs.items() if k in ("file", "times", "indices") and isinstance(v, Text)}
            if files:  # the paths lowering found (spikefile.py): read again, vectorised
                from ..frontend.spikefile import read_spike_train

                times, indices = read_spike_train({k: (Path(v), v) for k, v in files.items()})
                return SourcePlan(name=inp.name, kind="spike_times", size=inp.size, times=times, indices=indices,
                                  file=" and ".join(files.values()))
            times = [v.value for v in call.kwargs["times"].items]
            indices = [int(v.value) for v in call.kwargs["indices"].items]
            return SourcePlan(name=inp.name, kind="spike_times", size=inp.size, times=times, indices=indices)
        return SourcePlan(name=inp.name, kind="events", size=inp.size,
                          width=int(call.kwargs["width"].value), height=int(call.kwargs["height"].value))

    def drive(self, inp, pops: dict) -> DrivePlan:
        """``poisson_drive(target = pop.var, N, rate, weight)``: one stream; the counts are drawn per step."""
        kw = inp.spec.kwargs
        pop_name, _, var = kw["target"].value.partition(".")
        return DrivePlan(name=inp.name, population=pop_name, variable=pops[pop_name].local[var], n=int(kw["N"].value),
                         rate=float(kw["rate"].value), weight=float(kw["weight"].value), stream=self.next_stream(),
                         loc=inp.loc)

    def drives_of(self, plan: Plan, drives: list[DrivePlan]) -> None:
        """The plan's poisson_drive inputs (no fixed-point form: refused with precision = loihi)."""
        plan.drives = drives
        if plan.precision == "loihi" and drives:
            self.diags.error(drives[0].loc, f"precision = loihi: input {drives[0].name} (poisson_drive) has no "
                             "fixed-point form yet; drive the population through a poisson input and a connection")
            raise SpecError(self.diags)

    # ---- connections -------------------------------------------------------------------
    def connection(self, c: Connection, net: Network, sizes: dict, pops: dict) -> ConnectionPlan:
        syn: SynapseModel = self.model.synapses[c.synapse]
        name = c.name
        local = {v.name: self.symbols.spec(name, v.name) for v in syn.variables()}
        pre_pop, post_pop = pops.get(c.source), pops.get(c.target)
        side_names: dict[str, tuple[str, str]] = {}  # spec name -> (qualified, index)
        for suffix, pp, index in (("_pre", pre_pop, "pre"), ("_post", post_pop, "post")):
            if pp is not None:
                for spec_name, qual in pp.local.items():
                    side_names[spec_name + suffix] = (qual, index)
                if pp.refractory is not None and "refractory" + suffix not in local:  # refractory_post: its mask
                    side_names["refractory" + suffix] = (self.symbols(pp.name, "refractory"), index)
        (a, n_pre), (b, n_post) = _span(c.source_range, sizes[c.source]), _span(c.target_range, sizes[c.target])
        c = self.with_fixed_constants(c)  # p, delay, condition: structure, fixed at build
        copies = self.constant_copies(name, syn, c)  # constants its events and state use: parameters of its own
        extra = {"N_pre": sympy.Integer(n_pre), "N_post": sympy.Integer(n_post), **self.fixed_values,
                 **{k: symbol(prm.name) for k, prm in copies.items()}}
        q = _qualifier({**local, **{k: v[0] for k, v in side_names.items()}}, extra)
        overrides = {o.name: o.value for o in c.overrides}
        aliases = {symbol(v.name): v.value.value for v in syn.aliases}

        params: list[Param] = list(copies.values())
        known: dict = {}
        keys: dict = {symbol("N_pre"): sympy.Integer(n_pre), symbol("N_post"): sympy.Integer(n_post)}
        units = _units(syn.parameters)
        for v in syn.parameters:
            expr = si(overrides.get(v.name, v.value).value).xreplace(self.fixed_subs)
            param = self.scalar_param(name, v.name, local[v.name], units[v.name], expr, known, keys)
            if param is None:
                self.diags.error(overrides[v.name].loc if v.name in overrides else v.loc,
                                 f"synapse parameter '{v.name}' must be a constant; make it a state variable "
                                 "to give each synapse its own value")
                raise SpecError(self.diags)
            params.append(param)
        arrays: list[ArrayInit] = []
        for v in syn.state:
            expr = si(overrides.get(v.name, v.value).value)
            e, draws = self.draws(q(expr), local[v.name])
            arrays.append(ArrayInit(name=local[v.name], size="n_syn", expr=e, draws=draws))

        delay_expr: Optional[sympy.Basic] = None
        delay_array = None
        if c.delay is not None:
            d = si(c.delay.value)
            steps = sympy.Max(1, steps_of(d))
            if d.free_symbols - {DT} or d.has(uniform, normal, rand, randn):
                delay_array = self.symbols(name, "delay")
                e, draws = self.draws(q(steps), delay_array)
                arrays.append(ArrayInit(name=delay_array, size="n_syn", expr=e, draws=draws, dtype="int"))
            else:
                delay_expr = steps
        if delay_expr is None and delay_array is None:
            delay_expr = sympy.Integer(1)
        file_edges, file_arrays = None, {}
        if c.file is not None:  # the synapses, weights and delays read from a file now
            file_edges, file_arrays, delay_expr, delay_array = self.file_connectivity(c, name, local, arrays, n_pre, n_post,
                                                                                      delay_expr, delay_array)

        inputs: list[ArrayInit] = []
        input_draws: list[Draw] = []
        for v in syn.inputs:
            e, draws = self.draws(q(si(overrides.get(v.name, v.value).value)), local[v.name])
            inputs.append(ArrayInit(name=local[v.name], size="1", expr=e, draws=draws))
            input_draws += draws
        input_names = {v.name for v in syn.inputs}

        # With per-synapse delays, a presynaptic spike reaches each synapse at its own step:
        # a pre trace per neuron would mix them, so each synapse keeps its own.
        per_synapse = {v.name for v in syn.pre} if delay_array is not None else set()
        for s in syn.on_post:
            if s.target in per_synapse:
                self.diags.error(s.loc, f"'{s.target}' is a pre trace of a connection with per-synapse delays, kept "
                                        "per synapse; on_post cannot add to it (give the connection one delay)")
                raise SpecError(self.diags)
        traces, trace_side = [], {}
        for v in syn.pre + syn.post:
            side = v.kind
            size = str(sizes[c.source] if side == "pre" else sizes[c.target])  # whole populations
            if v.name in per_synapse:
                size = "n_syn"
            e, draws = self.draws(q(si(v.value.value)), local[v.name])
            traces.append(ArrayInit(name=local[v.name], size=size, expr=e, draws=draws))
            trace_side[local[v.name]] = side
        lazy = _lazy_traces(syn, aliases)
        stepped = [o for o in syn.pre_odes + syn.post_odes if o.var not in lazy]
        trace_constants, trace_decay = self._odes(stepped, syn, local, q, aliases, name, "trace", input_names)
        syn_constants, syn_integrate = self._odes(syn.odes, syn, local, q, aliases, name, "syn", input_names)

        indexed: dict[str, str] = {}
        for v in syn.state:
            indexed[local[v.name]] = "syn"
        for v in syn.pre:
            indexed[local[v.name]] = "syn" if v.name in per_synapse else "pre"
        for v in syn.post:
            indexed[local[v.name]] = "post"
        # a neuron's variables are read at the synapse's neuron; a parameter that is one number
        # for its whole population is read as it is (J_post, not J_post[post])
        shared = {prm.name for pp in (pre_pop, post_pop) if pp is not None for prm in pp.params if prm.value is not None}
        for spec_name, (qual, index) in side_names.items():
            if qual not in shared:
                indexed[qual] = index
        if delay_array:
            indexed[delay_array] = "syn"

        on_pre = [self._event(s, "pre", syn, local, side_names, q, aliases, per_synapse) for s in syn.on_pre]
        masks = {side_names[n][0]: pp.name for n, pp in (("refractory_pre", pre_pop), ("refractory_post", post_pop))
                 if n in side_names and n not in local}
        if post_pop is not None and post_pop.refractory_convention == "brian2":
            on_pre = _brian2_dropped(on_pre, post_pop, self.symbols(post_pop.name, "refractory"), indexed, masks)
        refractory_reads = {m: p for m, p in masks.items() if any(symbol(m) in e.expr.free_symbols for e in on_pre)}
        for pp in (pre_pop, post_pop):
            if pp is not None and pp.name in refractory_reads.values() and pp.refractory_convention == "brian2":
                pp.refractory_uniform = False  # the read needs each neuron's last refractory step, kept per neuron
        on_post = [self._event(s, "post", syn, local, side_names, q, aliases, per_synapse) for s in syn.on_post]
        if lazy:
            on_pre, on_post = (_decay_on_read(events, lazy, local, q, indexed, traces, trace_constants, name, self.symbols)
                               for events in (on_pre, on_post))
        linear = None
        plastic = bool(on_post or syn_integrate or any(e.side != "target" for e in on_pre))
        if len(on_pre) == 1 and on_pre[0].side == "target" and on_pre[0].op in ("+=", "-=") and not plastic:
            stmt = on_pre[0]
            uses = {s.name for s in stmt.expr.free_symbols}
            if all(indexed.get(u) in (None, "syn") for u in uses):
                weight = stmt.expr if stmt.op == "+=" else -stmt.expr
                linear = (stmt.target, weight)

        # Dense (pre x post) only with one delay for all synapses: per-synapse delays are
        # delivered group by group, which needs the synapses of each group (CSR rows).
        storage = _storage(c, delay_array, linear, (a, n_pre, b, n_post) == (0, sizes[c.source], 0, sizes[c.target]),
                           n_pre * n_post)
        p = q(si(c.p.value)) if c.p is not None else None
        cond = q(si(c.condition.value)) if c.condition is not None else None
        return ConnectionPlan(
            name=name, source=c.source, target=c.target, n_pre=n_pre, n_post=n_post,
            pre_offset=a, post_offset=b, pre_rows=sizes[c.source], post_rows=sizes[c.target],
            synapse=syn.name, pattern=c.pattern, p=p, indegree=c.indegree, condition=cond,
            connect_stream=self.next_stream(), storage=storage, params=params, arrays=arrays,
            state=[local[v.name] for v in syn.state], traces=traces, trace_side=trace_side,
            trace_constants=trace_constants, trace_decay=trace_decay, syn_constants=syn_constants,
            syn_integrate=syn_integrate, delay=delay_expr, delay_array=delay_array, max_delay=0,
            linear=linear, on_pre=on_pre, on_post=on_post, indexed=indexed, local=local,
            inputs=inputs, input_draws=input_draws, per_synapse_traces=[local[v] for v in sorted(per_synapse)],
            file=file_edges, file_arrays=file_arrays, refractory_reads=refractory_reads)

    def _odes(self, odes, syn, local, q, aliases, name, kind, inputs=frozenset()) -> tuple[list[Assign], list[Assign]]:
        if not odes:
            return [], []
        system = {o.var: si(_expand_aliases(o.rhs.value, aliases)) for o in odes}
        param_names = {v.name for v in syn.parameters}
        try:
            step = integrate(system, param_names, set(inputs), syn.method if kind == "syn" else None, prefix=f"{kind}_")
        except IntegrationError as e:
            self.diags.error(syn.method_loc or syn.loc, f"cannot integrate the equations of synapse '{syn.name}': {e}")
            raise SpecError(self.diags)
        temp = {n: self.symbols(name, n) for n, _ in step.constants + step.statements}
        qt = _qualifier({**local, **temp}, {})
        constants = [Assign(temp[n], qt(e)) for n, e in step.constants]
        statements = [Assign(temp[n], qt(e)) for n, e in step.statements]
        statements += [Assign(local[var], symbol(temp[new])) for var, new in step.updates.items()]
        return constants, statements

    def _event(self, s, event: str, syn: SynapseModel, local, side_names, q, aliases, per_synapse=frozenset()) -> EventStatement:
        """Classify one on_pre / on_post statement by what it writes."""
        expr = q(si(_expand_aliases(_apply_op(s.op, symbol(s.target), s.value.value), aliases)))
        value = q(si(_expand_aliases(s.value.value, aliases)))
        kinds = {v.name: v.kind for v in syn.variables()}
        kind = kinds.get(s.target)
        if kind == "state" or s.target in per_synapse:
            return EventStatement(side="synapse", target=local[s.target], index="syn", op="=", expr=expr)
        if kind in ("pre", "post"):
            target, side = local[s.target], kind
        else:
            target, index = side_names[s.target]
            side = index
        if side == event:  # a variable of the neuron that spiked: once per spike
            return EventStatement(side=side, target=target, index=side, op="=", expr=expr)
        # The other side: every synapse adds to its neuron (a scatter).
        if s.op not in ("+=", "-="):
            self.diags.error(s.loc, f"'{s.target}' belongs to the {side}synaptic neuron: in {'on_' + event} it can "
                                    "only be changed with += or -=, once per synapse")
            raise SpecError(self.diags)
        return EventStatement(side="target", target=target, index=side, op=s.op, expr=value)

    # ---- network constants ----------------------------------------------------------------
    #: fixed constants (decided when the package is built) -> their SI values, by name
    fixed_values: dict = {}
    fixed_subs: dict = {}  # the same, by symbol
    #: constants that stay run-time values -> their keys (``brunel.J``)
    runtime_keys: dict = {}

    def constants(self, net: Network) -> list[ConstantPlan]:
        """Decide, for every constant of the network, whether it is fixed when the package is
        built or stays a run-time parameter. Fixed: a constant that decides structure (a size,
        an input's argument, an indegree, a monitor period: lowering says which; a connection's
        probability, condition or delay), that sets a neuron's initial value, input or
        per-neuron parameter (evaluated per neuron, where a model's process has no place for
        it), or that no part uses; and every constant such a constant is computed from. The
        others are parameters: the key ``<network>.<name>``, and where a connection's events or
        state use one, a parameter of that connection kept equal to it (``exc_exc.J``)."""
        defs = {k.name: si(k.value.value) for k in net.constants}
        values: dict[str, sympy.Float] = {}
        for k in net.constants:  # in order: each uses only those above it
            values[k.name] = sympy.Float(float(defs[k.name].xreplace({symbol(n): v for n, v in values.items()})))
        fixed = dict(net.fixed_constants)

        def fix(name: str, reason: str) -> None:
            if name in defs and name not in fixed:
                fixed[name] = reason
                for other in defs[name].free_symbols:
                    fix(other.name, f"{reason} (through constant '{name}')")

        used: set[str] = set(fixed)
        for c in net.connections:
            where = f"connection {c.source} -> {c.target}"
            for what, e in (("the probability", c.p), ("the delay", c.delay), ("the condition", c.condition)):
                for n in (e.constants if e is not None else ()):
                    fix(n, f"{what} of {where}")
            syn = self.model.synapses.get(c.synapse)
            exprs = [o.value for o in c.overrides] + [v.value for v in syn.variables()] + \
                [st.value for st in syn.on_pre + syn.on_post]
            used.update(n for e in exprs for n in e.constants)
        for pop in net.populations:
            neuron = self.model.neurons[pop.neuron]
            params = {v.name for v in neuron.parameters} | {"N"}
            kinds = {v.name: v.kind for v in neuron.variables()}
            for o in pop.overrides:
                if not o.value.constants:
                    continue
                used.update(o.value.constants)
                rest = {x.name for x in o.value.value.free_symbols} - set(defs) - params
                if kinds.get(o.name) != "parameter":
                    for n in o.value.constants:
                        fix(n, f"the {_KIND_WORD.get(kinds.get(o.name), 'value')} of '{o.name}' in population '{pop.name}'")
                elif rest or is_random(o.value.value):
                    for n in o.value.constants:
                        fix(n, f"the per-neuron values of '{o.name}' in population '{pop.name}'")
        for name in list(used):  # what the constants used are computed from is used too
            stack = [name]
            while stack:
                for other in defs.get(stack.pop(), sympy.S.Zero).free_symbols:
                    if other.name in defs and other.name not in used:
                        used.add(other.name)
                        stack.append(other.name)
        for k in net.constants:
            if k.name not in used:
                fix(k.name, "no part of the network uses it")
        self.fixed_values = {n: values[n] for n in fixed}
        self.fixed_subs = {symbol(n): v for n, v in self.fixed_values.items()}
        self.runtime_keys = {k.name: f"{net.name}.{k.name}" for k in net.constants if k.name not in fixed}
        self.constant_values = values
        self.constant_units = {}
        dims: dict = {}
        for k in net.constants:
            try:
                dims[k.name] = dimension(k.value.value, lambda n: dims.get(n))
            except DimensionError:
                dims[k.name] = None
            self.constant_units[k.name] = format_dim(dims[k.name] or DIMENSIONLESS)
        found = []
        for k in net.constants:
            derived = None
            if k.name not in fixed and defs[k.name].free_symbols:  # K = 2 * J: recomputed when J is set
                derived = self.derived(defs[k.name], {}, {}, own=k.name)
            found.append(ConstantPlan(name=k.name, key=f"{net.name}.{k.name}", value=float(values[k.name]),
                                      unit=self.constant_units[k.name], fixed=fixed.get(k.name),
                                      derived=derived[1] if derived else None, uses=derived[2] if derived else []))
        return found

    def scalar_param(self, owner: str, spec_name: str, name: str, unit: str, expr: sympy.Basic, known: dict,
                     keys: dict) -> Optional[Param]:
        """The parameter ``owner.spec_name`` when it is one number for its owner: a constant, or an
        expression of network constants (recomputed when they are set); None when it differs from
        element to element. Records its value in ``known`` and its key in ``keys`` for the
        parameters after it."""
        value = _constant(expr.xreplace(known))
        derived = self.derived(expr, keys, known) if value is None else None
        extra = {}
        if derived is not None:
            value, text, uses = derived
            extra = {"derived": text, "uses": uses}
        elif value is None:
            return None
        known[symbol(spec_name)] = sympy.Float(value)
        keys[symbol(spec_name)] = _key_symbol(f"{owner}.{spec_name}")
        return Param(key=f"{owner}.{spec_name}", name=name, value=value, unit=unit, **extra)

    def derived(self, expr: sympy.Basic, keys: dict, known: dict, own: Optional[str] = None):
        """A parameter given as an expression of run-time constants (and of parameters above it,
        ``keys``: symbol -> the symbol of its key): (its value now, a Python expression of
        ``p``, the keys it uses); None when the expression is not such a one."""
        constants = {x for x in expr.free_symbols if x.name in self.runtime_keys and x.name != own}
        if not constants or is_random(expr):
            return None
        by_key = {x: _key_symbol(self.runtime_keys[x.name]) for x in constants}
        written = expr.xreplace({**keys, **by_key})
        if {x.name for x in written.free_symbols} - {x.name for x in by_key.values()} - {x.name for x in keys.values() if x.is_Symbol}:
            return None  # it uses i, another per-element value, ...
        value = _constant(expr.xreplace({x: self.constant_values[x.name] for x in constants}).xreplace(known)
                          .xreplace({k: v for k, v in keys.items() if v.is_Number}))
        if value is None:
            return None
        uses = sorted({x.name[3:-2] for x in written.free_symbols})
        from sympy.printing.pycode import pycode

        return value, pycode(written, fully_qualified_modules=True), uses

    def constant_copies(self, name: str, syn: SynapseModel, c: Connection) -> dict[str, Param]:
        """The run-time constants a connection's events and state use, as parameters of the
        connection (``exc_exc.J``) that follow the network's (``brunel.J``)."""
        exprs = [o.value for o in c.overrides] + [v.value for v in syn.variables() if v.kind != "parameter"] + \
            [st.value for st in syn.on_pre + syn.on_post]
        names = sorted({n for e in exprs for n in e.constants if n in self.runtime_keys})
        copies = {}
        for n in names:
            key = self.runtime_keys[n]
            copies[n] = Param(key=f"{name}.{n}", name=self.symbols.spec(name, n), value=float(self.constant_values[n]),
                              unit=self.constant_units[n], derived=f"p[{key!r}]", uses=[key])
        return copies

    def with_fixed_constants(self, c: Connection) -> Connection:
        """The connection with the values of fixed constants in its probability, delay, condition."""
        if not self.fixed_values:
            return c
        subs = {symbol(n): v for n, v in self.fixed_values.items()}
        update = {}
        for field_name in ("p", "delay", "condition"):
            e = getattr(c, field_name)
            if e is not None and e.constants:
                update[field_name] = e.model_copy(update={"value": e.value.xreplace(subs)})
        return c.model_copy(update=update) if update else c

    # ---- connectivity from a file ------------------------------------------------------------
    def file_connectivity(self, c: Connection, name: str, local: dict, arrays: list, n_pre: int, n_post: int,
                          delay_expr, delay_array):
        """``from_file``: the synapses read now (checked as ``snnlang check`` does); the state w
        and the per-synapse delays filled from the file's arrays."""
        from ..frontend.datafile import DataFileError, check_edges, read_edges

        f = c.file
        try:
            edges = read_edges(f.path) if f.path else None
            problem = check_edges(edges, n_pre, n_post, self.dt) if edges is not None else "it was not found"
        except DataFileError as e:
            problem = str(e)
        if problem:
            self.diags.error(f.loc, f"'{f.name}': {problem}")
            raise SpecError(self.diags)
        import hashlib

        import numpy as np

        digest = hashlib.sha256(Path(f.path).read_bytes()).hexdigest()
        file_arrays = {}
        steps = None
        if edges.delay is not None:
            steps = np.maximum(1, np.floor(edges.delay / self.dt + 0.5)).astype(np.int64)
            delay_array, delay_expr = self.symbols(name, "delay"), None
            file_arrays[delay_array] = self.symbols(name, "file_delay")
            arrays.append(ArrayInit(name=delay_array, size="n_syn", expr=symbol(file_arrays[delay_array]), dtype="int"))
        if edges.w is not None:
            w = local["w"]
            file_arrays[w] = self.symbols(name, "file_w")
            arrays[:] = [ArrayInit(name=a.name, size=a.size, expr=symbol(file_arrays[w]), dtype=a.dtype)
                         if a.name == w else a for a in arrays]
        found = FileEdges(name=f.name, pre=edges.pre, post=edges.post, w=edges.w, delay=steps, sha256=digest)
        return found, file_arrays, delay_expr, delay_array

    # ---- the network ---------------------------------------------------------------------
    def plan(self, net: Network, sim: Optional[Settings]) -> Plan:
        discrete = all(self.model.neurons[p.neuron].discrete for p in net.populations) and bool(net.populations)
        timing = simulation(sim, discrete)  # checked, every default from settings.SIMULATE
        dt, steps, seed = timing.dt, timing.steps, timing.seed
        self.dt = dt
        constants = self.constants(net)  # before the parts that use them
        # the spec's names first, in the spec's order: they keep their spelling where it is free
        for p in net.populations:
            for v in self.model.neurons[p.neuron].variables():
                self.symbols.spec(p.name, v.name)
        for c in net.connections:
            for v in self.model.synapses[c.synapse].variables():
                self.symbols.spec(c.name, v.name)
        pops = [self.population(p, self.model.neurons[p.neuron]) for p in net.populations]
        by_name = {p.name: p for p in pops}
        sources = [self.source(i) for i in net.inputs if i.kind != "poisson_drive"]
        drives = [self.drive(i, by_name) for i in net.inputs if i.kind == "poisson_drive"]
        sizes = {p.name: p.size for p in pops} | {s.name: s.size for s in sources}
        conns = [self.connection(c, net, sizes, by_name) for c in net.connections]
        monitors = self.monitors(net, sizes, by_name, dt, {c.name: c for c in conns})
        # where each comes from in the spec, for the located refusals of the targets
        spiking = [i for i in net.inputs if i.kind != "poisson_drive"]
        for owners, items in ((pops, net.populations), (sources, spiking), (conns, net.connections)):
            for owner, item in zip(owners, items):
                owner.loc = getattr(item, "synapse_loc", None) or item.loc
        schedule = make_schedule(pops, sources, conns, monitors, dt, drives=tuple(drives))
        plan = Plan(network=net.name, spec=self.model.source, spec_hash=self.model.spec_hash, version=__version__,
                    dt=dt, steps=steps, seed=seed, populations=pops, sources=sources, connections=conns,
                    monitors=monitors, discrete=discrete, symbols=self.symbols, schedule=schedule,
                    precision=PRECISION.get() or timing.precision, loihi_vth=timing.loihi_vth, constants=constants)
        self.drives_of(plan, drives)
        if plan.precision == "loihi":
            plan.fixed_point = self.fixed_point(plan, net)
        return plan

    def fixed_point(self, plan: Plan, net: Network):
        """Loihi's registers of every population and connection (fixed_point.py); a spec with a part
        that has none is refused, at that part, saying why."""
        from .fixed_point import fixed_point

        fp = fixed_point(plan)
        places = {p.name: p.loc for p in net.populations} | {c.name: c.loc for c in net.connections}
        targets = {c.name: c.target for c in plan.connections}
        for kind, problems in (("population", fp.neuron_problems), ("connection", fp.connection_problems)):
            for name, reason in problems.items():
                if kind == "connection" and targets.get(name) in fp.neuron_problems:
                    continue  # its target's reason is the reason
                self.diags.error(places.get(name, net.loc), f"precision = loihi: {kind} {name} has no fixed-point "
                                 f"form: {reason}")
        if not fp.complete:
            raise SpecError(self.diags)
        return fp


    def monitors(self, net: Network, sizes: dict, pops: dict, dt: float, conns: Optional[dict] = None) -> list[MonitorPlan]:
        """One monitor for the spikes of each population or source, and one for each set of
        variables and period of a population or connection (synapse monitors): every selection
        of their statements in it."""
        found: dict[tuple, MonitorPlan] = {}
        conns = conns or {}
        for m in net.monitors:
            if m.kind == "synapses":  # synapse indices: their number is known once drawn (stop None: to the last)
                span = (m.start or 0, m.stop, m.step or 1)
            else:
                size = sizes[m.population]
                span = (m.start or 0, min(size, m.stop if m.stop is not None else size), m.step or 1)
            every = 1
            if m.every is not None:
                every = max(1, int(round(float(si(m.every.value)) / dt)))
            key = (m.kind, m.population) if m.kind == "spikes" else (m.kind, m.population, frozenset(m.variables), every)
            if key in found:
                if span not in found[key].selections:
                    found[key].selections.append(span)
                continue
            pop = pops.get(m.population)
            owner = conns[m.population] if m.kind == "synapses" else pop
            found[key] = MonitorPlan(
                kind=m.kind, population=m.population, variables=list(m.variables),
                qualified=[owner.local[v] for v in m.variables] if owner else [], start=span[0], stop=span[1],
                step=span[2], every=every, selections=[span],
                values=self._recorded(pop, m.variables) if pop and m.kind == "state" else [], loc=m.loc)
        for monitor in found.values():  # the neurons as one slice where they form one
            if monitor.kind == "synapses":
                continue
            monitor.start, monitor.stop, monitor.step = _one_slice(monitor.selections) or (
                monitor.as_slice() if sum(len(range(*s)) for s in monitor.selections) <= _LISTED else None
            ) or monitor.selections[0]
        return list(found.values())

    def _recorded(self, pop: PopulationPlan, variables) -> list[sympy.Basic]:
        """What a state monitor records of each variable: the qualified name of a state or input
        variable or a parameter, the expression of a definition (in those names)."""
        neuron = self.model.neurons[pop.neuron]
        aliases = _alias_map(neuron)
        q = _qualifier(pop.local, {"N": sympy.Integer(pop.size)})
        definitions = {v.name for v in neuron.aliases}
        return [q(si(_expand_aliases(symbol(v), aliases))) if v in definitions else symbol(pop.local[v])
                for v in variables]


# ---- helpers ---------------------------------------------------------------------------

_KIND_WORD = {"state": "initial value", "input": "input"}


def _key_symbol(key: str) -> sympy.Symbol:
    """A parameter of the generated package as it reads it, ``p['exc.tau_m']`` (derived parameters)."""
    return sympy.Symbol(f"p[{key!r}]")


def _propagator(step, temp: dict, qt) -> Propagator:
    """The exact scheme's update as a matrix over [variables, 1], input columns kept apart."""
    rows = list(step.updates)

    def entry(x, label):
        const = step.matrix.get((x, label))
        return symbol(temp[const]) if const else sympy.Integer(0)

    matrix = [[entry(x, y) for y in rows + ["1"]] for x in rows]
    inputs = {}
    for x in rows:
        terms = [entry(x, y) * symbol(y) for y in step.columns[len(rows):] if y != "1"]
        if any(t != 0 for t in terms):
            inputs[qt(symbol(x)).name] = qt(sympy.Add(*terms))
    return Propagator(variables=[qt(symbol(x)).name for x in rows], matrix=matrix, inputs=inputs)


def hoist(statements: list[Assign], constants: list[Assign], invariant: set, prefix: str, names) -> list[Assign]:
    """Loop-invariant code motion: every largest subexpression of a step statement that
    depends only on parameters and dt (e.g. exp(-dt/tau) in a discrete update, the rate of
    an exponential-Euler update) becomes a constant computed once per run.

    A temporary whose whole value is invariant becomes a constant itself, so what reads it
    is hoisted in turn; a statement that is then affine in what varies is gathered as
    ``k1 x + k2 y + k3`` when that takes fewer operations (exponential Euler on a variable
    that decays on its own reduces to x * exp(-dt/tau))."""
    known = invariant | {symbol(a.target) for a in constants}
    found: dict[sympy.Basic, sympy.Symbol] = {}
    targets = [a.target for a in statements]

    def invariant_part(e: sympy.Basic) -> bool:  # a number-valued expression of invariants (a symbol is one)
        logical = isinstance(e, sympy.logic.boolalg.Boolean) and not e.is_Symbol
        return bool(e.free_symbols) and e.free_symbols <= known and not logical

    def visit(e: sympy.Basic) -> sympy.Basic:
        if e.is_Atom:
            return e
        if invariant_part(e):
            if e not in found:
                found[e] = symbol(names(prefix, f"k{len(found) + 1}"))
                constants.append(Assign(found[e].name, e))
            return found[e]
        if isinstance(e, (sympy.Mul, sympy.Add)):  # the invariant factors (terms) of a product (sum), as one
            fixed = [a for a in e.args if invariant_part(a) or (a.is_Number and any(map(invariant_part, e.args)))]
            if len(fixed) > 1:
                rest = [a for a in e.args if a not in fixed]
                return e.func(visit(e.func(*fixed)), *[visit(a) for a in rest])
        args = [visit(a) for a in e.args]
        return e.func(*args) if any(a is not b for a, b in zip(args, e.args)) else e

    out = []
    for a in statements:
        expr = a.expr
        if (a.where is None and targets.count(a.target) == 1 and expr.free_symbols <= known
                and not isinstance(expr, sympy.logic.boolalg.Boolean)):
            constants.append(Assign(a.target, expr))  # a temporary that is the same every step
            known.add(symbol(a.target))
            continue
        out.append(Assign(a.target, visit(_affine(expr, known)), where=a.where))
    return out


def _affine(expr: sympy.Basic, known: set) -> sympy.Basic:
    """expr as k1 x + k2 y + k0 (k invariant) when it is affine in its varying symbols and
    that form is shorter; else expr as it is."""
    varying = sorted(expr.free_symbols - known, key=lambda s: s.name)
    if not varying or expr.has(sympy.Piecewise):
        return expr
    poly = sympy.expand(expr).as_poly(*varying)
    if poly is None or poly.total_degree() > 1 or any(c.free_symbols - known for c in poly.coeffs()):
        return expr
    coeff = {m: c for m, c in zip(poly.monoms(), poly.coeffs())}
    terms = [sympy.factor_terms(coeff.get(tuple(int(k == n) for k in range(len(varying))), 0)) * x
             for n, x in enumerate(varying)]
    gathered = sympy.Add(*terms, sympy.factor_terms(coeff.get((0,) * len(varying), 0)))
    return gathered if _step_ops(gathered, known) < _step_ops(expr, known) else expr


def _step_ops(e: sympy.Basic, known: set) -> int:
    """The operations left in a step once invariant subexpressions are constants."""
    if e.is_Atom or (e.free_symbols and e.free_symbols <= known):
        return 0
    return sympy.count_ops(e.func(*[sympy.Dummy() for _ in e.args])) + sum(_step_ops(a, known) for a in e.args)


STEP = symbol("step")


def _lazy_traces(syn: SynapseModel, aliases: dict) -> dict[str, sympy.Basic]:
    """Traces that decay on their own (dx/dt = a x, a constant): updated only at events.

    Such a trace is stored with the step of its last update and read as
    x * exp(a dt)**(step - last): exact, and nothing is done while no spike comes.
    A trace that another synapse adds to (a scatter) is stepped instead.
    """
    params = {symbol(v.name) for v in syn.parameters}
    scattered = set()
    for event, stmts in (("pre", syn.on_pre), ("post", syn.on_post)):
        for s in stmts:
            side = next((v.kind for v in syn.pre + syn.post if v.name == s.target), None)
            if side is not None and side != event:
                scattered.add(s.target)
    lazy = {}
    for o in syn.pre_odes + syn.post_odes:
        x = symbol(o.var)
        rhs = si(_expand_aliases(o.rhs.value, aliases))
        rate = sympy.cancel(rhs / x)
        if o.var not in scattered and rate.free_symbols <= params | {DT} and rate != 0:
            lazy[o.var] = rate
    return lazy


def _decay_on_read(events, lazy, local, q, indexed, traces, constants, conn, names):
    """Rewrite event statements so lazy traces are read decayed to this step, and stamped when written."""
    out = []
    decayed = {}
    for var, rate in lazy.items():
        x, last = local[var], names(local[var], "last")
        factor = names(conn, f"decay_{var}")
        if not any(a.target == factor for a in constants):
            constants.append(Assign(factor, q(sympy.exp(rate * DT))))
            size = next(t.size for t in traces if t.name == x)
            traces.append(ArrayInit(name=last, size=size, expr=sympy.Integer(0), dtype="int"))
            indexed[last] = indexed[x]
        decayed[symbol(x)] = symbol(x) * symbol(factor) ** (STEP - symbol(last))
    for e in events:
        expr = e.expr.xreplace(decayed)
        out.append(EventStatement(side=e.side, target=e.target, index=e.index, op=e.op, expr=expr))
        name = e.target
        if name in {local[v] for v in lazy}:
            out.append(EventStatement(side=e.side, target=names(name, "last"), index=e.index, op="=", expr=STEP))
    return out


DENSE_FROM = 0.2  # expected fraction of pairs connected above which a weight matrix beats compressed rows
DENSE_LIMIT = 2**26  # largest weight matrix (entries) the plan will choose


def _storage(c: Connection, delay_array, linear, whole: bool, pairs: int) -> str:
    """Dense (a pre x post weight matrix, delivered by summing the rows of the spiking neurons)
    for static synapses connecting a large fraction of pairs; compressed rows otherwise."""
    if linear is None or delay_array is not None or not whole or pairs > DENSE_LIMIT:
        return "csr"
    density = {"all_to_all": 1.0, "one_to_one": 0.0}.get(c.pattern)
    if c.pattern == "probability":
        p = c.p.value
        density = float(p) if p.is_number else 0.0
    return "dense" if density is not None and density >= DENSE_FROM else "csr"


#: Selections of at most this many neurons are listed to find the one slice they form; larger
#: ones are not (a list of 1e9 neurons is the memory that plan/memory.py is there to refuse).
_LISTED = 10**6


def _one_slice(selections: list[tuple[int, int, int]]) -> Optional[tuple[int, int, int]]:
    """The selection that holds every other one (a slice of step 1 around them, or the same
    selection), found without listing neurons; None when there is none."""
    def within(inner, outer) -> bool:
        a, b, t = inner
        if inner == outer or a >= b:
            return True
        last = a + (b - 1 - a) // t * t
        return outer[2] == 1 and outer[0] <= a and last < outer[1]

    return next((outer for outer in selections if all(within(s, outer) for s in selections)), None)


def _span(span, size: int) -> tuple[int, int]:
    """A slice [start, stop) as (start, length); the whole population without one."""
    if span is None:
        return 0, size
    start, stop = span
    return start, (size if stop is None else stop) - start


def _qualifier(local: dict[str, str], values: dict[str, sympy.Basic]):
    mapping = {symbol(k): symbol(v) for k, v in local.items()}
    mapping.update({symbol(k): v for k, v in values.items()})

    def q(expr: sympy.Basic) -> sympy.Basic:
        return expr.xreplace(mapping)

    return q


def _alias_map(neuron: NeuronModel) -> dict:
    return {symbol(v.name): v.value.value for v in neuron.aliases}


def _expand_aliases(expr: sympy.Basic, aliases: dict) -> sympy.Basic:
    for _ in range(len(aliases) + 1):
        new = expr.xreplace(aliases)
        if new == expr:
            return expr
        expr = new
    return expr


def _apply_op(op: str, target: sympy.Basic, value: sympy.Basic) -> sympy.Basic:
    """The new value of ``target`` after ``target op value`` (only that operation is built)."""
    return _OPERATIONS[op](target, value)


_OPERATIONS = {"=": lambda target, value: value, "+=": operator.add, "-=": operator.sub, "*=": operator.mul,
               "/=": operator.truediv}


def _constant(expr: sympy.Basic) -> Optional[float]:
    if expr.free_symbols or expr.has(uniform, normal, rand, randn):
        return None
    try:
        return float(expr)
    except (TypeError, ValueError):
        return None


def _units(variables) -> dict[str, str]:
    """The unit of each parameter, read off its default (which may use earlier parameters)."""
    dims: dict = {}
    for v in variables:
        try:
            dims[v.name] = dimension(v.value.value, lambda n: dims.get(n))
        except DimensionError:
            dims[v.name] = None
    return {name: format_dim(d or DIMENSIONLESS) for name, d in dims.items()}


def make_plan(model: Model, network: Optional[str] = None, diags: Optional[Diagnostics] = None,
              check_memory: bool = True) -> Plan:
    """The plan of one network of a checked model (the simulated one by default).

    ``check_memory``: refuse, with a located SpecError, a network whose run would need more
    memory than the limit (memory.py), before any target allocates anything for it."""
    diags = diags or Diagnostics()
    if network is None:
        candidates = list(model.simulations) or list(model.networks)
        if not candidates:
            raise ValueError("the spec defines no network")
        network = candidates[0]
    net = model.networks[network]
    plan = Planner(model, diags).plan(net, model.simulations.get(network))
    if check_memory:
        from .memory import enforce

        enforce(plan, net, diags)
    plan.time_constants = time_constants(model, network)
    return plan
