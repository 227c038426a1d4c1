"""Check: every error of a Model, each at its place, all reported at once.

Dimensions of every equation, assignment, threshold and event statement;
undefined names (with "did you mean"); writes to parameters; cycles among
algebraic definitions; references to populations, neurons, synapses and
variables that do not exist. Warnings for doubtful numerics.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

import sympy

from .diagnostics import Diagnostics, did_you_mean
from .dims import BaseUnit, DimensionError, Poison, constant_value, dimension, quantity_value
from .functions import is_random, symbol
from .lower import REFRACTORY_READS
from .model import (
    Call, Connection, Expr, ListValue, Loc, Model, Network, NeuronModel, Number, Settings,
    Statement, SynapseModel, Text, Variable, Word,
)
from .settings import check_simulation, check_training
from .units import DIMENSIONLESS, Dim, dim, dim_add, format_dim

SECOND = dim(s=1)
PER_SECOND = dim(s=-1)
METHODS = ("exact", "exponential_euler", "euler", "rk2", "heun", "rk4")

#: the arguments each input takes (an unknown one is an error)
_INPUT_ARGUMENTS = {
    "poisson": ("n", "rate", "counts"),
    "spike_times": ("n", "indices", "times", "file"),
    "poisson_drive": ("target", "N", "rate", "weight"),
}
_TIME_BUILTINS: dict[str, Dim] = {"t": SECOND, "dt": SECOND, "i": DIMENSIONLESS, "j": DIMENSIONLESS,
                                  "N": DIMENSIONLESS, "N_pre": DIMENSIONLESS, "N_post": DIMENSIONLESS,
                                  "pi": DIMENSIONLESS}


@dataclass
class Scope:
    """The names visible in one context, with their dimensions and kinds."""

    dims: dict[str, Optional[Dim]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    where: str = ""
    #: dims and kinds are another scope's too (connection_scope): copied before the first change
    shared: bool = False

    def add(self, name: str, d: Optional[Dim], kind: str) -> None:
        if self.shared:
            self.dims, self.kinds, self.shared = dict(self.dims), dict(self.kinds), False
        self.dims[name] = d
        self.kinds[name] = kind


class Checker:
    def __init__(self, model: Model, diags: Diagnostics):
        self.model = model
        self.diags = diags
        self.neuron_dims: dict[str, Scope] = {}
        #: the dimension (or the error) of each constant expression, by :func:`_constant_key`
        self.constant_dims: dict[tuple, object] = {}
        self.sizes: dict[str, dict[str, int]] = {}  # network -> the size of each population and input
        #: (network, source neuron, target neuron) -> the names its connections see (connection_scope)
        self.connection_scopes: dict[tuple, Scope] = {}

    def run(self) -> None:
        for neuron in self.model.neurons.values():
            self.neuron_dims[neuron.name] = self.neuron(neuron)
        for net in self.model.networks.values():
            self.network(net)
        for sim in self.model.simulations.values():
            self.simulation(sim)
        for train in self.model.trainings.values():
            self.training(train)

    # ---- names and dimensions ----------------------------------------------------
    def dim_of(self, expr: Expr, scope: Scope) -> Optional[Dim]:
        """Dimension of an expression; reports undefined names and inconsistencies."""
        undefined = False
        for name, loc in expr.names.items():
            if (name not in scope.dims and name not in _TIME_BUILTINS) or (
                    scope.kinds.get(name) == "constant" and name not in expr.constants):  # a model's own text
                undefined = True
                self.diags.error(loc, f"undefined name '{name}'{scope.where}" + did_you_mean(name, list(scope.dims)))
        if undefined or isinstance(expr.value, Poison):
            return None
        key = _constant_key(expr)
        if key is not None and key in self.constant_dims:  # a quantity like one seen before
            found = self.constant_dims[key]
        else:
            try:
                found = dimension(expr.value, lambda n: scope.dims.get(n, _TIME_BUILTINS.get(n)))
            except DimensionError as e:
                found = DimensionError(str(e))
            if key is not None:
                self.constant_dims[key] = found
        if isinstance(found, DimensionError):
            self.diags.error(expr.loc, f"dimension mismatch: {found}")
            return None
        return found

    def expect(self, expr: Expr, scope: Scope, want: Optional[Dim], what: str) -> None:
        got = self.dim_of(expr, scope)
        if got is not None and want is not None and got != want:
            self.diags.error(expr.loc, f"dimension mismatch: {what} is in {format_dim(want)} "
                                       f"but the right side is in {format_dim(got)}")

    def declarations(self, variables: tuple[Variable, ...], scope: Scope) -> None:
        """Add declared names to the scope in order; aliases may refer to each other in any order."""
        aliases = {v.name: v for v in variables if v.kind == "alias"}
        for v in variables:
            scope.add(v.name, None, v.kind)
        for v in variables:
            if v.kind != "alias":
                found = self.dim_of(v.value, scope)
                if found is None and v.value.value == 0:  # a bare 0 declares a pure number; 0 mV a voltage
                    found = DIMENSIONLESS
                scope.dims[v.name] = found
        resolving: list[str] = []
        done: set[str] = set()
        broken: set[str] = set()  # on a cycle: reported once, dimension unknown

        def resolve(name: str) -> None:
            if name in done:
                return
            if name in resolving:
                cycle = resolving[resolving.index(name):] + [name]
                shown = cycle if len(cycle) <= 8 else cycle[:4] + ["..."] + cycle[-3:]
                self.diags.error(aliases[name].loc, "cycle among algebraic definitions: " + " -> ".join(shown))
                broken.update(cycle)
                return
            resolving.append(name)
            for other in aliases[name].value.names:
                if other in aliases:
                    resolve(other)
            resolving.pop()
            found = self.dim_of(aliases[name].value, scope)  # also reports undefined names
            scope.dims[name] = None if name in broken else found
            done.add(name)

        for name in aliases:
            resolve(name)

    def statement(self, s: Statement, scope: Scope, writable: tuple[str, ...], context: str) -> None:
        kind = scope.kinds.get(s.target)
        if kind == "error":  # already reported
            return
        if kind is None and s.target in _TIME_BUILTINS:
            self.diags.error(s.loc, f"cannot assign to built-in name '{s.target}' in {context}")
            self.dim_of(s.value, scope)
            return
        if kind is None:
            candidates = [n for n, k in scope.kinds.items() if k in writable]
            self.diags.error(s.loc, f"undefined name '{s.target}'{scope.where}" + did_you_mean(s.target, candidates))
            self.dim_of(s.value, scope)
            return
        if kind not in writable:
            base = kind.rsplit("_", 1)[0] if kind.endswith(("_pre", "_post")) else kind
            label = {"alias": "algebraic definition", "builtin": "built-in name"}.get(base, base)
            self.diags.error(s.loc, f"cannot assign to {label} '{s.target}' in {context}")
            self.dim_of(s.value, scope)
            return
        want = scope.dims.get(s.target)
        if s.op in ("*=", "/="):
            self.expect(s.value, scope, DIMENSIONLESS, f"the factor of '{s.target} {s.op}'")
        else:
            self.expect(s.value, scope, want, f"'{s.target}'")

    def no_random(self, expr: Expr, what: str) -> None:
        if is_random(expr.value):
            self.diags.error(expr.loc, f"random functions are not allowed in {what}; "
                                       "use them in initial values, weights, delays or update statements")

    # ---- neurons --------------------------------------------------------------------
    def neuron(self, n: NeuronModel) -> Scope:
        scope = Scope(where=f" in neuron '{n.name}'")
        self.declarations(n.variables(), scope)
        if n.odes and n.update:
            self.diags.error(n.loc, f"neuron '{n.name}' has both equations and update; use one of them")
        seen: dict[str, Loc] = {}
        for ode in n.odes:
            kind = scope.kinds.get(ode.var)
            if kind != "state":
                what = f"is a {kind}" if kind else "is not declared"
                self.diags.error(ode.loc, f"d{ode.var}/dt: '{ode.var}' {what}; an equation needs a state variable"
                                 + ("" if kind else did_you_mean(ode.var, [v.name for v in n.state])))
                self.dim_of(ode.rhs, scope)
                continue
            if ode.var in seen:
                self.diags.error(ode.loc, f"a second equation for '{ode.var}' (first at line {seen[ode.var].line})")
            seen[ode.var] = ode.loc
            want = scope.dims.get(ode.var)
            self.expect(ode.rhs, scope, None if want is None else dim_add(want, PER_SECOND), f"d{ode.var}/dt")
            self.no_random(ode.rhs, "equations")
            if ode.unless_refractory and n.refractory is None:
                self.diags.warning(ode.loc, f"'unless refractory' has no effect: neuron '{n.name}' has no refractory period")
        for s in n.update:
            self.statement(s, scope, ("state",), "update")
        if n.threshold is not None:
            self.condition(n.threshold, scope, "a spike condition")
            if not n.reset and n.refractory is None:
                self.diags.warning(n.threshold.loc, f"neuron '{n.name}' spikes but has no reset and no refractory "
                                                    "period: it spikes at every step while the condition holds; "
                                                    "add reset { ... } or refractory ...")
        elif n.reset:
            self.diags.warning(n.reset[0].loc, f"neuron '{n.name}' has a reset but no 'spike when' condition")
        for s in n.reset:
            self.statement(s, scope, ("state",), "reset")
            self.no_random(s.value, "a reset")
        if n.refractory is not None:
            if n.refractory_in_steps:
                self.expect(n.refractory, scope, DIMENSIONLESS, "a refractory period in steps")
            else:
                self.expect(n.refractory, scope, SECOND, "a refractory period")
            self.refractory_value(n)
        self.method(n.method, n.method_loc)
        for v in n.aliases:
            self.no_random(v.value, "algebraic definitions")
        for v in n.parameters:
            self.no_random(v.value, "parameter defaults (use them in a population's overrides)")
        return scope

    def refractory_value(self, n: NeuronModel) -> None:
        """A constant refractory period, or a parameter's default, is not negative; in steps, whole."""
        expr = n.refractory
        defaults = {v.name: v.value for v in n.parameters}
        if isinstance(expr.value, sympy.Symbol) and expr.value.name in defaults:
            expr = defaults[expr.value.name]
        try:
            found = constant_value(expr.value) if not isinstance(expr.value, Poison) else None
        except (DimensionError, OverflowError):
            found = None
        if found is None or found[1] != (DIMENSIONLESS if n.refractory_in_steps else SECOND):
            return  # not a constant, or in the wrong unit (reported)
        value = found[0]
        if value < 0:
            self.diags.error(n.refractory.loc, f"a refractory period must be at least 0, not {value:g}")
        elif n.refractory_in_steps and value != int(value):
            self.diags.error(n.refractory.loc, f"a refractory period in steps must be a whole number, not {value:g}")

    def condition(self, expr: Expr, scope: Scope, what: str) -> None:
        self.dim_of(expr, scope)
        value = expr.value
        is_condition = isinstance(value, sympy.logic.boolalg.Boolean) and not isinstance(value, sympy.Symbol)
        if not (is_condition or isinstance(value, Poison)):
            self.diags.error(expr.loc, f"{what} must be a comparison such as v >= v_th")
        self.no_random(expr, what.removeprefix("a ") + "s")

    def method(self, method: Optional[str], loc: Optional[Loc]) -> None:
        if method is not None and method not in METHODS:
            self.diags.error(loc, f"unknown integration method '{method}'; choose one of "
                             + ", ".join(METHODS) + did_you_mean(method, METHODS))

    # ---- networks -------------------------------------------------------------------
    def network(self, net: Network) -> None:
        pops = {p.name: p for p in net.populations}
        sources = set(pops) | {i.name for i in net.inputs if i.kind != "poisson_drive"}  # a drive has no spikes
        self.network_constants(net)
        for p in net.populations:
            neuron = self.model.neurons.get(p.neuron)
            if neuron is None:
                self.diags.error(p.neuron_loc, f"unknown neuron model '{p.neuron}'" + did_you_mean(p.neuron, self.model.neurons))
                continue
            scope = self.neuron_dims[neuron.name]
            # one copy for all the overrides of a population (a copy each was quadratic)
            overrides_scope = self.with_constants(scope, net) if p.overrides else scope
            for o in p.overrides:
                kind = scope.kinds.get(o.name)
                if kind is None or kind == "alias":
                    self.diags.error(o.loc, f"neuron '{neuron.name}' has no parameter, state or input '{o.name}'"
                                     + did_you_mean(o.name, [n for n, k in scope.kinds.items() if k != "alias"]))
                    continue
                self.expect(o.value, overrides_scope, scope.dims.get(o.name), f"'{o.name}'")
                if kind != "input" and "t" in o.value.names:
                    self.diags.error(o.value.names["t"], f"'{o.name}' is a {kind}, set once at the start; only an "
                                                         "input is evaluated every step and may follow the time t")
        for inp in net.inputs:
            self.input_spec(inp.spec)
        self.drives(net, pops)
        for c in net.connections:
            self.connection(c, net, pops, sources)
        inputs = {i.name: i for i in net.inputs}
        conns = {c.name: c for c in net.connections}
        for m in net.monitors:
            pop = pops.get(m.population)
            if m.kind == "synapses":
                self.synapse_monitor(m, conns[m.population])
                continue
            if pop is None:
                if m.population in conns and m.kind == "spikes":
                    self.diags.error(m.population_loc, f"'{m.population}' is a connection: it has no spikes (monitor a "
                                                       f"per-synapse variable: monitor w of {m.population})")
                elif m.population not in sources:
                    self.diags.error(m.population_loc, f"unknown population '{m.population}'"
                                     + did_you_mean(m.population, sources | set(conns)))
                elif m.kind == "state":
                    self.diags.error(m.population_loc, f"'{m.population}' is an input; only its spikes can be monitored")
                else:
                    self.selection(m, f"input '{m.population}'", inputs[m.population].size)
                continue
            self.selection(m, f"population '{pop.name}'", pop.size)
            if m.kind == "state" and pop.neuron in self.neuron_dims:
                scope = self.neuron_dims[pop.neuron]
                for v in m.variables:
                    if v not in scope.kinds:
                        self.diags.error(m.loc, f"neuron '{pop.neuron}' has no variable '{v}'" + did_you_mean(v, scope.kinds))
            if m.every is not None:
                self.expect(m.every, Scope(), SECOND, "a monitor period")
                self.positive(m.every, "a monitor period")

    def synapse_monitor(self, m, c: Connection) -> None:
        """``monitor w of exc_exc[0:100] every 10 ms``: per-synapse state variables of a connection,
        a selection of synapse indices (their number is known once the connectivity is drawn)."""
        if m.step is not None and m.step < 1:
            self.diags.error(m.population_loc, "a slice step must be at least 1")
        if m.stop is not None and (m.start or 0) >= m.stop:
            self.diags.error(m.population_loc, f"the slice {m.start or 0}:{m.stop} selects no synapse")
        if m.every is not None:
            self.expect(m.every, Scope(), SECOND, "a monitor period")
            self.positive(m.every, "a monitor period")
        syn = self.model.synapses.get(c.synapse)
        if syn is None:  # the connection's own check says so
            return
        kinds = {v.name: v.kind for v in syn.variables()}
        state = [v.name for v in syn.state]
        shown = f"synapse '{c.synapse.split('__')[-1]}'" if c.synapse.split("__")[-1] != c.name else "its synapse"
        for v in m.variables:
            kind = kinds.get(v)
            if kind is None:
                self.diags.error(m.loc, f"connection '{c.name}' ({shown}) has no variable '{v}'"
                                 + did_you_mean(v, kinds))
            elif kind != "state":
                self.diags.error(m.loc, f"'{v}' of connection '{c.name}' is {_NOT_PER_SYNAPSE[kind]}, not per-synapse "
                                        "state; a synapse monitor records state variables"
                                 + (f" ({', '.join(state)})" if state else f" (and {shown} has none)"))

    def selection(self, m, what: str, size: int) -> None:
        """``p[start:stop:step]``: inside the population and not empty."""
        if m.step is not None and m.step < 1:
            self.diags.error(m.population_loc, "a slice step must be at least 1")
        start = m.start or 0
        stop = size if m.stop is None else m.stop
        if start >= size:
            self.diags.error(m.population_loc, f"index {start} is outside {what} of size {size}")
        elif stop > size:
            self.diags.error(m.population_loc, f"the slice ends at {stop}, beyond {what} of size {size}")
        elif start >= stop:
            self.diags.error(m.population_loc, f"the slice {start}:{stop} selects no neuron")

    def positive(self, expr: Expr, what: str, allow_zero: bool = False) -> None:
        """An error when ``expr`` is a constant below zero (or zero, unless allowed)."""
        found = _constant(expr)
        if found is not None and (found < 0 or (found == 0 and not allow_zero)):
            self.diags.error(expr.loc, f"{what} must be {'at least 0' if allow_zero else 'positive'}, not {found:g}")

    def input_spec(self, call: Call) -> None:
        known = _INPUT_ARGUMENTS.get(call.name, ())
        for key, value in call.kwargs.items():
            if known and key not in known:
                self.diags.error(value.loc, f"{call.name}() has no argument '{key}'; it takes "
                                 + ", ".join(known) + did_you_mean(key, known))
        if call.name == "poisson":
            rate = call.kwargs.get("rate")
            if rate is None:
                self.diags.error(call.loc, "poisson() needs rate = ... (in Hz)")
            else:
                self.expect_value(rate, PER_SECOND, "rate")
                self.not_negative(rate, "rate")
            if "counts" in call.kwargs:
                self.true_or_false(call.kwargs["counts"], "counts")
        elif call.name == "spike_times":
            times, indices = call.kwargs.get("times"), call.kwargs.get("indices")
            if isinstance(call.kwargs.get("file"), Text) or (isinstance(times, Text) and isinstance(indices, Text)):
                return  # read and checked when the spec was lowered (spikefile.py), errors at the file's argument
            if not isinstance(times, ListValue) or not isinstance(indices, ListValue):
                self.diags.error(call.loc, 'spike_times() needs indices = [...] and times = [...], file = "spikes.npz", '
                                           'or times = "times.npy" and indices = "indices.npy"')
            elif len(times.items) != len(indices.items):
                self.diags.error(call.loc, f"spike_times() has {len(indices.items)} indices but {len(times.items)} times")
            else:
                for t in times.items:
                    self.expect_value(t, SECOND, "a spike time")
        elif call.name == "events":
            if "dt" in call.kwargs:
                self.expect_value(call.kwargs["dt"], SECOND, "dt")
        elif call.name == "poisson_drive":
            for key in ("target", "N", "rate", "weight"):
                if key not in call.kwargs:
                    self.diags.error(call.loc, f"poisson_drive() needs {key} = ...: poisson_drive(target = exc.v, "
                                               "N = 800, rate = 20 Hz, weight = 0.1 mV)")
            n, rate = call.kwargs.get("N"), call.kwargs.get("N") and call.kwargs.get("rate")
            if n is not None and not (isinstance(n, Number) and n.is_int and n.dim == DIMENSIONLESS and n.value >= 1):
                self.diags.error(n.loc, "N (the number of independent Poisson inputs of each neuron) must be a "
                                        "whole number of at least 1")
            if rate is not None:
                self.expect_value(rate, PER_SECOND, "rate")
                self.not_negative(rate, "rate")

    def not_negative(self, value, what: str) -> None:
        if isinstance(value, Number) and value.value < 0:
            self.diags.error(value.loc, f"{what} must be at least 0, not {float(value.value):g}")

    def true_or_false(self, value, what: str) -> None:
        if not (isinstance(value, Word) and value.value in ("true", "false")):
            self.diags.error(value.loc, f"{what} must be true or false")

    def drives(self, net: Network, pops: dict) -> None:
        """``poisson_drive(target = pop.var, ...)``: the target is a state or input variable of a
        population, the weight is in its unit; nothing connects from a drive or monitors it."""
        drives = {i.name: i for i in net.inputs if i.kind == "poisson_drive"}
        for inp in drives.values():
            target, weight = inp.spec.kwargs.get("target"), inp.spec.kwargs.get("weight")
            if target is None:
                continue
            pop_name, _, var = target.value.partition(".") if isinstance(target, Text) else ("", "", "")
            if not var:
                self.diags.error(target.loc, "target must name a population's variable: target = exc.v")
                continue
            pop = pops.get(pop_name)
            if pop is None:
                self.diags.error(target.loc, f"unknown population '{pop_name}'" + did_you_mean(pop_name, pops))
                continue
            scope = self.neuron_dims.get(pop.neuron)
            if scope is None:
                continue  # an unknown neuron model: reported at the population
            kind = scope.kinds.get(var)
            if kind not in ("state", "input"):
                what = f"a {'definition' if kind == 'alias' else kind}" if kind else "not a variable"
                choices = [n for n, k in scope.kinds.items() if k in ("state", "input")]
                self.diags.error(target.loc, f"'{var}' of population '{pop_name}' is {what} of neuron '{pop.neuron}'; "
                                 "a drive adds to a state or input variable" + did_you_mean(var, choices))
                continue
            want = scope.dims.get(var)
            if weight is not None and want is not None:
                self.expect_value(weight, want, f"the weight (what one input spike adds to {var})")
        for c in net.connections:
            if c.source in drives:
                self.diags.error(c.source_loc, f"input '{c.source}' is a poisson_drive: it adds to its target "
                                               "directly and has no spikes to connect from")
        for m in net.monitors:
            if m.population in drives:
                self.diags.error(m.population_loc, f"input '{m.population}' is a poisson_drive: it has no neurons "
                                                   "to monitor (monitor its target's variable)")

    def expect_value(self, value, want: Dim, what: str) -> None:
        if not isinstance(value, Number):
            self.diags.error(value.loc, f"{what} must be a number with units of {format_dim(want)}")
        elif value.dim != want and not (value.value == 0):
            self.diags.error(value.loc, f"dimension mismatch: {what} is in {format_dim(want)} "
                                        f"but the value is in {format_dim(value.dim)}")

    def connection(self, c: Connection, net: Network, pops: dict, sources: set[str]) -> None:
        if c.source not in sources:
            self.diags.error(c.source_loc, f"unknown population '{c.source}'" + did_you_mean(c.source, sources))
        if c.target not in pops:
            hint = " (an input can only be a source)" if c.target in sources else did_you_mean(c.target, pops)
            self.diags.error(c.target_loc, f"unknown population '{c.target}'{hint}")
        sizes = self.sizes.get(net.name)
        if sizes is None:  # once a network, not once a connection
            sizes = self.sizes[net.name] = {p.name: p.size for p in net.populations} | {i.name: i.size for i in net.inputs}
        spans = () if c.source_range is None and c.target_range is None else (
            (c.source, c.source_range, c.source_loc), (c.target, c.target_range, c.target_loc))
        for name, span, loc in spans:
            if span is not None and name in sizes:
                start, stop = span[0], sizes[name] if span[1] is None else span[1]
                if not 0 <= start < stop <= sizes[name]:
                    self.diags.error(loc, f"[{start}:{stop}] is not a slice of '{name}' (size {sizes[name]})")
        if c.pattern == "one_to_one" and c.source in sizes and c.target in sizes:
            n_pre, n_post = (_span_size(span, sizes[name]) for name, span in
                             ((c.source, c.source_range), (c.target, c.target_range)))
            if n_pre != n_post:
                self.diags.warning(c.loc, f"one_to_one: the source has {n_pre} neurons and the target {n_post}; "
                                          f"only the first {min(n_pre, n_post)} are connected")
        syn = self.model.synapses.get(c.synapse)
        if syn is None:
            self.diags.error(c.synapse_loc or c.loc, f"unknown synapse model '{c.synapse}'"
                             + did_you_mean(c.synapse, [s for s in self.model.synapses if "__" not in s]))
            return
        scope = self.connection_scope(net, pops.get(c.source), pops.get(c.target))
        scope.where = f" in connection {c.source} -> {c.target}"
        variables = syn.variables()
        if variables:
            self.declarations(variables, scope)
        for ode in syn.odes + syn.pre_odes + syn.post_odes:
            want = scope.dims.get(ode.var)
            if scope.kinds.get(ode.var) not in ("state", "pre", "post"):
                self.diags.error(ode.loc, f"d{ode.var}/dt: '{ode.var}' is not a synapse state variable or trace")
                continue
            self.expect(ode.rhs, scope, None if want is None else dim_add(want, PER_SECOND), f"d{ode.var}/dt")
            self.no_random(ode.rhs, "equations")
        for v in syn.aliases:
            self.no_random(v.value, "algebraic definitions")
        exprs = [v.value for v in variables] + [o.rhs for o in syn.odes + syn.pre_odes + syn.post_odes]
        exprs += [s.value for s in syn.on_pre + syn.on_post]
        named = [e for e in exprs if e.names]  # (often none: on_pre: v_post += 0.5 mV)
        self.refractory_reads(syn, scope, c, pops, sources, variables,
                              bool(named) or any(e.names for e in _settings_of(c)))
        self._side_names(syn, scope, c, pops, sources, named)
        for s in syn.on_pre:
            self.statement(s, scope, _WRITABLE_IN_EVENTS, "on_pre")
        for s in syn.on_post:
            self.statement(s, scope, _WRITABLE_IN_EVENTS, "on_post")
        self.method(syn.method, syn.method_loc)
        if c.file is not None or c.pattern == "file":
            self.connection_file(c, net, syn, scope)
        if c.p is not None:
            self.expect(c.p, scope, DIMENSIONLESS, "a connection probability")
            p = _constant(c.p)
            if p is not None and not 0 <= p <= 1:
                self.diags.error(c.p.loc, f"a connection probability must be from 0 to 1, not {p:g}")
        if c.delay is not None:
            self.expect(c.delay, scope, SECOND, "a delay")
        if c.condition is not None:
            self.condition(c.condition, scope, "a connection condition")
        for o in c.overrides:
            if scope.kinds.get(o.name) not in ("parameter", "state", "input"):
                what = "parameter, state or input" if syn.inputs else "parameter or state"
                self.diags.error(o.loc, f"synapse '{syn.name}' has no {what} '{o.name}'"
                                 + did_you_mean(o.name, [v.name for v in syn.parameters + syn.state + syn.inputs]))
                continue
            self.expect(o.value, scope, scope.dims.get(o.name), f"'{o.name}'")
            if scope.kinds.get(o.name) == "input":
                self.connection_input(o, scope)
        for v in syn.inputs:
            self.connection_input(v, scope)

    def connection_scope(self, net: Network, source, target) -> Scope:
        """The names a connection's synapse sees besides its own: the built-in names, the variables
        of its source and target neurons (``v_pre``, ``v_post``), the network's constants. Made
        once for each pair of neuron models (a network may have many connections between the
        same populations); each connection gets a copy, made when it first adds a name."""
        pre, post = self._pop_scope(source), self._pop_scope(target)
        key = (net.name, None if pre is None else source.neuron, None if post is None else target.neuron)
        base = self.connection_scopes.get(key)
        if base is None:
            base = Scope()
            for name, d in _TIME_BUILTINS.items():
                base.add(name, d, "builtin")
            for suffix, side in (("_pre", pre), ("_post", post)):
                if side is not None:
                    for name, d in side.dims.items():
                        base.add(name + suffix, d, side.kinds[name] + suffix)
            self.add_constants(base, net)  # before the synapse's names (a name both has is an error of its own)
            for name in REFRACTORY_READS:  # (unless a neuron's variable 'refractory' has the name: refractory_reads)
                base.dims.setdefault(name, DIMENSIONLESS)
                base.kinds.setdefault(name, "builtin")
            self.connection_scopes[key] = base
        return Scope(dims=base.dims, kinds=base.kinds, shared=True)

    # ---- network constants and connectivity from files ---------------------------------------
    def network_constants(self, net: Network) -> None:
        """The dimension of each constant of a network; a constant named like a population, an
        input, or a variable of a model the network uses is an error (an expression could not
        say which it means)."""
        dims: dict[str, Optional[Dim]] = {}
        for k in net.constants:
            try:
                dims[k.name] = dimension(k.value.value, lambda n: dims.get(n))
            except DimensionError as e:
                self.diags.error(k.value.loc, f"dimension mismatch: {e}")
                dims[k.name] = None
        self.constant_dims[("network", net.name)] = dims
        if not net.constants:
            return
        places = {p.name: f"population '{p.name}'" for p in net.populations}
        places |= {i.name: f"input '{i.name}'" for i in net.inputs}
        for p in net.populations:
            neuron = self.model.neurons.get(p.neuron)
            for v in neuron.variables() if neuron else ():
                places.setdefault(v.name, f"a {_KIND_WORDS.get(v.kind, v.kind)} of neuron '{neuron.name}' (population '{p.name}')")
        for c in net.connections:
            syn = self.model.synapses.get(c.synapse)
            for v in syn.variables() if syn else ():
                shown = c.synapse if "__" not in c.synapse and c.synapse_loc else f"connection {c.source} -> {c.target}"
                where = f"synapse '{shown}'" if "__" not in c.synapse and c.synapse_loc else shown
                places.setdefault(v.name, f"a {_KIND_WORDS.get(v.kind, v.kind)} of {where}")
        for k in net.constants:
            if k.name in places:
                self.diags.error(k.loc, f"constant '{k.name}' has the name of {places[k.name]}; "
                                        "give the constant another name")

    def add_constants(self, scope: Scope, net: Network) -> None:
        """The network's constants, visible to the expressions written in its block."""
        for name, d in self.constant_dims.get(("network", net.name), {}).items():
            if name not in scope.kinds:
                scope.add(name, d, "constant")

    def with_constants(self, scope: Scope, net: Network) -> Scope:
        found = Scope(dims={**scope.dims}, kinds={**scope.kinds}, where=scope.where)
        self.add_constants(found, net)
        return found

    def connection_file(self, c: Connection, net: Network, syn: SynapseModel, scope: Scope) -> None:
        """``from_file(...)``: the only pattern of its connection; the file fits the source and
        the target (shape, index bounds), its ``w`` has a state variable to go to, and its delays
        are not given twice."""
        f = c.file
        if f is None:
            return
        if c.pattern != "file" or c.p is not None or c.indegree is not None:
            self.diags.error(f.loc, "from_file(...) gives the synapses of the connection: it takes no other "
                                    "pattern (all_to_all, one_to_one, p = ..., indegree = ...)")
        if c.condition is not None:
            self.diags.error(c.condition.loc, "from_file(...) gives the synapses of the connection: a condition "
                                              "cannot select among them (remove the pairs from the file)")
        if f.delays and c.delay is not None:
            self.diags.error(c.delay.loc, f"'{f.name}' gives each synapse's delay: the connection cannot set one too")
        if f.weights and scope.kinds.get("w") != "state":
            self.diags.error(f.loc, f"'{f.name}' gives each synapse's w, but synapse '{syn.name}' has no state "
                                    "variable 'w' to hold it")
        if f.path is None:
            return
        sizes = self.sizes.get(net.name) or {p.name: p.size for p in net.populations} | {i.name: i.size for i in net.inputs}
        if c.source not in sizes or c.target not in sizes:
            return
        n_pre, n_post = _span_size(c.source_range, sizes[c.source]), _span_size(c.target_range, sizes[c.target])
        from .datafile import DataFileError, check_edges, read_edges

        try:
            problem = check_edges(read_edges(f.path), n_pre, n_post, None)
        except DataFileError as e:
            problem = str(e)
        if problem:
            self.diags.error(f.loc, f"'{f.name}': {problem}")

    def connection_input(self, o, scope: Scope) -> None:
        """A synapse input has one value per connection and step: an expression of t and constants."""
        for name, loc in o.value.names.items():
            kind = scope.kinds.get(name)
            if name in ("i", "j") or (kind not in (None, "builtin", "parameter") and kind != "error"):
                self.diags.error(loc, f"'{o.name}' is an input of the synapse: one value for the whole connection "
                                      f"at each step, so it cannot use '{name}'; it may use t, dt and parameters")

    def _pop_scope(self, pop) -> Optional[Scope]:
        if pop is None:
            return None
        return self.neuron_dims.get(pop.neuron)

    def refractory_reads(self, syn: SynapseModel, scope: Scope, c: Connection, pops: dict, sources: set[str],
                         variables: tuple[Variable, ...], named: bool) -> None:
        """``refractory_pre`` / ``refractory_post``: whether that neuron is refractory in the step a spike
        arrives. Read in on_pre only, of a population whose neuron has a refractory period. (``named``:
        whether any expression of the synapse or the connection names anything.)"""
        own = {v.name for v in variables}  # (a variable of the synapse's own keeps its name)
        if not named:  # nothing reads them: they are built-in names, as below (most often already)
            for name in REFRACTORY_READS:
                if name not in own and scope.kinds.get(name) != "builtin":
                    scope.add(name, DIMENSIONLESS, "builtin")
            return
        elsewhere = [(v.value, "synapse variables") for v in variables]
        elsewhere += [(o.rhs, "synapse equations") for o in syn.odes + syn.pre_odes + syn.post_odes]
        elsewhere += [(s.value, "on_post (the postsynaptic neuron has just spiked)") for s in syn.on_post]
        elsewhere += [(e, "a connection's settings") for e in _settings_of(c)]
        for name, pop_name, side in (("refractory_pre", c.source, "pre"), ("refractory_post", c.target, "post")):
            if name in own:  # a variable of the synapse's own
                continue
            shadowed = scope.kinds.get(name)  # the neuron's own variable 'refractory'
            if shadowed == "builtin":  # (the scope has the name already: connection_scope)
                shadowed = None
            else:
                scope.add(name, DIMENSIONLESS, "builtin")  # reported below where it makes no sense, not as undefined
            for e, where in elsewhere:
                if name in e.names:
                    self.diags.error(e.names[name], f"'{name}' is read only in on_pre (whether the {side}synaptic "
                                                    f"neuron is refractory in the step a spike arrives), not in {where}")
            reads = [s.value.names[name] for s in syn.on_pre if name in s.value.names]
            if not reads:
                continue
            if shadowed is not None:
                self.diags.error(reads[0], f"'{name}' reads the refractoriness of the {side}synaptic neuron, whose "
                                           "model also has a variable 'refractory'; rename that variable")
                continue
            pop = pops.get(pop_name)
            neuron = self.model.neurons.get(pop.neuron) if pop is not None else None
            if pop is None and pop_name in sources:
                self.diags.error(reads[0], f"'{name}': '{pop_name}' is an input, not a population of neurons; "
                                           "it has no refractory period")
            elif neuron is not None and neuron.refractory is None:
                self.diags.error(reads[0], f"'{name}': neuron '{neuron.name}' of population '{pop_name}' has no "
                                           "refractory period (give it one: refractory 2 ms)")

    def _side_names(self, syn: SynapseModel, scope: Scope, c: Connection, pops: dict, sources: set[str],
                    exprs: list[Expr]) -> None:
        """A ``_post`` or ``_pre`` name the neuron on that side does not have, in ``exprs`` (the
        synapse's expressions that name something) or as the target of an event statement."""
        kinds = scope.kinds
        for e in exprs:
            for name, loc in e.names.items():
                if name not in kinds:
                    self._side_name(name, loc, scope, c, pops, sources)
        for s in syn.on_pre + syn.on_post:
            if s.target not in kinds:
                self._side_name(s.target, s.loc, scope, c, pops, sources)

    def _side_name(self, name: str, loc: Loc, scope: Scope, c: Connection, pops: dict, sources: set[str]) -> None:
        if name in scope.kinds:
            return
        for suffix, pop_name in (("_pre", c.source), ("_post", c.target)):
            if name.endswith(suffix):
                pop = pops.get(pop_name)
                base = name[: -len(suffix)]
                if pop is None:
                    if pop_name in sources:  # an input; an unknown population is reported once, at the connection
                        self.diags.error(loc, f"'{name}': '{pop_name}' is an input, not a population of neurons; "
                                              f"it has no '{base}'")
                elif pop.neuron in self.neuron_dims:  # else the unknown neuron model is reported
                    options = list(self.neuron_dims[pop.neuron].kinds)
                    self.diags.error(loc, f"'{name}': neuron '{pop.neuron}' of population '{pop_name}' has no variable '{base}'"
                                     + did_you_mean(base, options))
                scope.add(name, None, "error")
                return

    # ---- simulate and train ------------------------------------------------------
    def simulation(self, sim: Settings) -> None:
        if sim.name not in self.model.networks:
            self.diags.error(sim.loc, f"unknown network '{sim.name}'" + did_you_mean(sim.name, self.model.networks))
        net = self.model.networks.get(sim.name)
        discrete = net is not None and bool(net.populations) and all(
            self.model.neurons[p.neuron].discrete for p in net.populations if p.neuron in self.model.neurons)
        values = check_simulation(sim, discrete, self.diags)  # settings.SIMULATE: types, units, ranges
        if net is not None and values["dt"]:
            self.spike_times_per_step(net, values["dt"])
            self.per_step(net, values["dt"])
        dt = sim.values.get("dt")
        if isinstance(dt, Number) and dt.dim == SECOND and sim.name in self.model.networks:
            self.time_constants(self.model.networks[sim.name], dt.value, dt.loc)

    def time_constants(self, net: Network, dt: float, loc: Loc) -> None:
        """Warn when dt is above a tenth of the smallest time constant the equations use: a
        parameter in seconds that an ODE uses (directly or through a definition), with the
        population's override when that is a constant. Only equations integrated by an
        approximate scheme count: an exact propagator (plan/integrate.py) is exact at any dt."""
        found: list[tuple[float, str, str]] = []
        for p in net.populations:
            n = self.model.neurons.get(p.neuron)
            if n is not None:
                overrides = {o.name: o.value for o in p.overrides}
                taus = _time_constants(n.odes, n.aliases, n.parameters, overrides, f"neuron '{n.name}'")
                scheme = taus and dt > min(taus)[0] / 10 and _approximate(n.odes, n.aliases, n.parameters,
                                                                          n.inputs, n.state, n.method)
                if scheme:
                    found += [(value, name, f"{where}, integrated by {scheme}") for value, name, where in taus]
        for c in net.connections:
            syn = self.model.synapses.get(c.synapse)
            if syn is not None and (syn.odes or syn.pre_odes or syn.post_odes):
                overrides = {o.name: o.value for o in c.overrides}
                where = f"connection {c.source} -> {c.target}"
                # per-synapse equations with the synapse's method; traces (pre, post) chosen automatically
                for odes, method in ((syn.odes, syn.method), (syn.pre_odes + syn.post_odes, None)):
                    taus = _time_constants(odes, syn.aliases, syn.parameters, overrides, where)
                    scheme = taus and dt > min(taus)[0] / 10 and _approximate(odes, syn.aliases, syn.parameters,
                                                                              syn.inputs, (), method)
                    if scheme:
                        found += [(value, name, f"{where}, integrated by {scheme}") for value, name, where in taus]
        if found:
            value, name, where = min(found)
            if dt > value / 10:
                self.diags.warning(loc, f"dt = {dt * 1e3:g} ms is more than a tenth of the smallest time constant, "
                                        f"{name} = {value * 1e3:g} ms ({where}); results may be inaccurate")

    def per_step(self, net: Network, dt: float) -> None:
        """What dt changes silently: a delay shorter than dt is one step; a poisson input spikes at
        most once a step, so a rate above 1 / dt is 1 / dt."""
        ms = f"dt = {dt * 1e3:g} ms"
        for c in net.connections:
            delay = _constant(c.delay) if c.delay is not None else None
            if delay is not None and 0 <= delay < dt:
                self.diags.warning(c.delay.loc, f"a delay of {delay * 1e3:g} ms is shorter than {ms}: it is one step "
                                                f"({dt * 1e3:g} ms), the shortest delay")
        for inp in net.inputs:
            self.bernoulli_rate(inp, dt, ms)

    def bernoulli_rate(self, inp, dt: float, ms: str) -> None:
        """A poisson input without counts = true spikes at most once a step, with probability
        rate x dt: above 1 / dt it loses spikes, and from a rate x dt of 0.1 its counts lack more than
        10 % of a Poisson process's variance (1 - rate x dt of it). Both warn, naming counts = true."""
        call = inp.spec
        rate = call.kwargs.get("rate") if call.name == "poisson" else None
        counts = call.kwargs.get("counts")
        if not isinstance(rate, Number) or rate.dim != PER_SECOND or (isinstance(counts, Word) and counts.value == "true"):
            return
        p = float(rate.value) * dt
        hint = "; counts = true draws a Poisson number of spikes per neuron and step, delivered as count x weight"
        if p > 1:
            self.diags.warning(rate.loc, f"poisson(): rate x dt = {p:g} at {ms}, but an input "
                                         f"neuron spikes at most once a step: it spikes at every step "
                                         f"({1 / dt:g} Hz, not {float(rate.value):g} Hz){hint}")
        elif p > 0.1:
            self.diags.warning(rate.loc, f"poisson(): rate x dt = {p:g} at {ms}: an input neuron spikes at most once "
                                         f"a step (with probability {p:g}), so its spike counts have {100 * (1 - p):.0f} % "
                                         f"of the variance of a Poisson process of {float(rate.value):g} Hz{hint}")

    def spike_times_per_step(self, net: Network, dt: float) -> None:
        """A neuron spikes at most once a step: two times of one neuron of a spike_times() input
        in one step are one spike (docs/semantics.md). Say how many are merged, and where."""
        for inp in net.inputs:
            times, indices = inp.spec.kwargs.get("times"), inp.spec.kwargs.get("indices")
            if inp.kind != "spike_times" or not isinstance(times, ListValue) or not isinstance(indices, ListValue):
                continue
            seen, merged = set(), []
            for i, t in zip(indices.items, times.items):
                if isinstance(i, Number) and isinstance(t, Number) and abs(float(t.value) / dt) < 2**62:
                    pair = (int(i.value), round(float(t.value) / dt))  # the step, as the targets round it
                    (merged.append(pair) if pair in seen else seen.add(pair))
            if merged:
                (neuron, step), merged = merged[0], len(merged)
                self.diags.warning(inp.spec.loc, f"spike_times(): {merged} spike{'s' if merged > 1 else ''} fall in "
                                   f"a step in which the same neuron already spikes (first: neuron {neuron} in step "
                                   f"{step}, t = {step * dt * 1e3:g} ms at dt = {dt * 1e3:g} ms); a neuron spikes at "
                                   "most once a step, so they are merged into one spike")

    def training(self, train: Settings) -> None:
        check_training(self.model, train, self.diags)  # settings.TRAIN: types, units, ranges, names


#: What a synapse variable that a synapse monitor cannot record is (check.synapse_monitor).
_NOT_PER_SYNAPSE = {
    "parameter": "a parameter (one value for the connection, in Network.params)",
    "alias": "a definition",
    "pre": "a presynaptic trace (one value per presynaptic neuron)",
    "post": "a postsynaptic trace (one value per postsynaptic neuron)",
    "input": "an input (one value per step for the whole connection)",
}


def _constant_key(expr: Expr) -> Optional[tuple]:
    """What the dimension of a constant expression (no names: numbers and units) depends on:
    a product without its numbers (``20 ms`` and ``5 ms`` are alike). None for an expression
    with names, whose dimension depends on the scope."""
    if expr.names:
        return None
    value = expr.value
    if value.is_Number:  # its dimension: none for a zero (any), else a pure number
        return ("number", value.is_zero)
    if value.is_Mul:
        return ("*",) + tuple(a for a in value.args if not a.is_Number)
    return (value,)


#: what a synapse's on_pre and on_post may change
_WRITABLE_IN_EVENTS = ("state", "pre", "post", "state_post", "input_post", "state_pre")


def _settings_of(c: Connection) -> list[Expr]:
    """The expressions of a connection's own settings: p, condition, delay, overrides."""
    return [e for e in (c.p, c.condition, c.delay) if e is not None] + [o.value for o in c.overrides]


def _span_size(span, size: int) -> int:
    if span is None:
        return size
    return (size if span[1] is None else span[1]) - span[0]


def _constant(expr: Expr) -> Optional[float]:
    """The SI value of an expression made of numbers and units only; None for anything else."""
    if isinstance(expr.value, Poison):
        return None
    quick = quantity_value(expr.value)  # a number, or a number times units (p = 0.1, delay = 2 ms)
    return quick[0] if quick is not None else _constant_of(expr.value)


@lru_cache(maxsize=4096)  # a spec repeats its values
def _constant_of(value: sympy.Basic) -> Optional[float]:
    if value.free_symbols - value.atoms(BaseUnit):
        return None
    try:
        found = constant_value(value)
    except (DimensionError, OverflowError):
        return None
    return found[0] if found else None


_KIND_WORDS = {"alias": "definition", "pre": "pre trace", "post": "post trace"}


def _approximate(odes, aliases, parameters, inputs, state, method: Optional[str]) -> Optional[str]:
    """The approximate scheme the plan integrates these equations with (None: the exact
    propagator): asks what decides it, plan/integrate.py's integrate(), as the planner calls
    it. A system it cannot read (an error reported elsewhere) counts as approximate."""
    if method == "exact":
        return None
    if method is not None:
        return method
    from ..plan.build import _expand_aliases, si
    from ..plan.integrate import IntegrationError, integrate

    try:
        defs = {symbol(a.name): a.value.value for a in aliases}
        system = {o.var: si(_expand_aliases(o.rhs.value, defs)) for o in odes}
        if any(isinstance(e, Poison) or e.has(Poison) for e in system.values()):
            return "an unknown scheme"
        outside = {v.name for v in inputs} | ({v.name for v in state} - set(system))
        chosen = integrate(system, {v.name for v in parameters}, outside, None).method
        return None if chosen == "exact" else chosen
    except (IntegrationError, AssertionError, TypeError, ValueError, AttributeError, RecursionError):
        return "an unknown scheme"


def _time_constants(odes, aliases, parameters, overrides: dict, where: str) -> list[tuple[float, str, str]]:
    """(SI value, name, where) of each parameter in seconds that the ODEs use."""
    definitions = {v.name: v.value.names for v in aliases}
    used: set[str] = set()
    todo = [name for ode in odes for name in ode.rhs.names]
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo += definitions.get(name, ())
    out = []
    for v in parameters:
        if v.name in used:
            expr = overrides.get(v.name, v.value)
            try:
                found = constant_value(expr.value) if not isinstance(expr.value, Poison) else None
            except (DimensionError, OverflowError):
                found = None
            if found is not None and found[1] == SECOND and found[0] > 0:
                out.append((found[0], v.name, where))
    return out


def positive_time_constants(model: Model, diags: Diagnostics) -> None:
    """A time constant (a parameter in seconds that divides a variable's decay rate in its
    equations, see plan/validate.py) given as a constant <= 0 is an error at its value: in the
    neuron's or synapse's defaults, or in a population's or connection's overrides."""
    from ..plan.validate import describe, message, model_time_constants, seconds, spec_name

    found, reported = {}, set()  # a synapse and its copies for connections share their defaults' places
    # parameter -> the variables it is a time constant of, once for a synapse and all its copies
    # (a connection's copy has the synapse's parameters and equations, only more events)
    shared: dict[tuple[int, ...], dict[str, list[str]]] = {}
    for kind, models in (("neuron", model.neurons), ("synapse", model.synapses)):
        for m in models.values():
            if not m.parameters:  # (no time constant, nor an override of one)
                continue
            key = tuple(id(getattr(m, part, ())) for part in ("parameters", "aliases", "odes", "pre_odes", "post_odes"))
            if key not in shared:
                shared[key] = model_time_constants(_in_equations(m))
            found[kind, m.name] = shared[key]
            for v in m.parameters:
                value = seconds(v.value) if v.name in found[kind, m.name] else None
                if value is not None and value <= 0 and v.value.loc not in reported:
                    reported.add(v.value.loc)
                    description = describe(found[kind, m.name][v.name], kind, spec_name(model, m.name))
                    diags.error(v.value.loc, message(v.name, value, description))
    for net in model.networks.values():
        owners = [(("neuron", p.neuron), p.overrides) for p in net.populations]
        owners += [(("synapse", c.synapse), c.overrides) for c in net.connections if c.overrides]
        for key, overrides in owners:
            for o in overrides:
                variables = found.get(key, {}).get(o.name)
                value = seconds(o.value) if variables else None
                if value is not None and value <= 0:
                    diags.error(o.value.loc, message(o.name, value, describe(variables, key[0], spec_name(model, key[1]))))


def _in_equations(owner):
    """A neuron or synapse model with only the parameters its equations use (directly or
    through definitions): the others cannot be time constants, and a model may have many."""
    definitions = {v.name: v.value.names for v in owner.aliases}
    odes = tuple(owner.odes) + tuple(getattr(owner, "pre_odes", ())) + tuple(getattr(owner, "post_odes", ()))
    used: set[str] = set()
    todo = [name for ode in odes for name in ode.rhs.names]
    while todo:
        name = todo.pop()
        if name not in used:
            used.add(name)
            todo += definitions.get(name, ())
    parameters = tuple(v for v in owner.parameters if v.name in used)
    return owner if len(parameters) == len(owner.parameters) else owner.model_copy(update={"parameters": parameters})


def check(model: Model, diags: Diagnostics) -> None:
    from .parse import collector_paused

    with collector_paused():  # as while lowering: many objects made, none to free
        Checker(model, diags).run()
        positive_time_constants(model, diags)
