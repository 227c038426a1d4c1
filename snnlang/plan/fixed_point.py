"""Loihi's fixed point: each population and connection of a Plan quantised into Loihi's registers.

The plan's, not a target's: the planner computes it when a spec simulates with
``precision = loihi`` (``Plan.fixed_point``), and every target prints the same
registers and arithmetic (the NumPy target: ``backends/numpy/fixed.py``; the Lava
target's ``fixed_pt`` models compute it from this module for any spec). The
arithmetic is that of Lava's ``lava.proc.lif`` ``PyLifModelBitAcc`` and ``Dense``
``PyDenseModelBitAcc`` (docs/lava.md, "Loihi's fixed point")::

    u = wrap24(rtz(u * (4095 - du)) + (a_in << 6))       rtz(x) = sign(x) * (|x| >> 12)
    v = clip24(rtz(v * (4096 - dv)) + u + (bias_mant << bias_exp))
    spike where v > vth << 6 (or >=); v = 0 there
    a_in = sum over connections of shift(sum of the 8-bit weight mantissas of last step's spikes, weight_exp)

**The LIF shape.** A population has a fixed-point form when one step of its plan is
Loihi's CUBA neuron: a voltage ``v`` whose new value is linear, ``a_vv v + a_vc c + b x + c0``,
at most one synaptic current ``c`` that decays on its own (``c' = a_cc c``, the synapses
adding to it) or that an input variable feeds (``c' = a_cc c + x``: Lava's own form
``u = u*(1-du) + a``), or an input ``x`` that the synapses add to, a threshold ``v > th``
or ``v >= th``, a reset ``v = v_reset`` and an optional refractory period. ``c0`` may
differ per neuron (a parameter given per neuron): the bias is then per neuron.

**Registers.** ``V = (v - v_reset) * scale`` with ``scale`` chosen so that the threshold
is exactly ``vth << 6``: ``vth`` is the spec's ``loihi_vth`` setting, or ``VTH`` doubled
(up to ``VTH_MAX``) while incoming weights would need a negative ``weight_exp``; decays
are 12-bit (``dv = 4096 (1 - a_vv)``, ``du = 4095 - 4096 a_cc``: Loihi's ``ds_offset`` of
1); the constant drive is the bias ``bias_mant << bias_exp``; weights are 8-bit
mantissas with one exponent per connection (``weight_exp``, kept >= 0 while 64 mantissa
steps remain: a negative one floors the summed input every step), the mixed-sign ones
even numbers in [-256, 254] as Lava's ``Dense`` keeps them. Each quantity's relative
error is reported, flagged above ``LARGE``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Optional, Union

import sympy

from ..frontend.functions import symbol
from .integrate import DT
from .ir import ConnectionPlan, Plan, PopulationPlan

VTH = 4096  # threshold mantissa: (threshold - reset) = VTH << 6 register units = 2**18 ...
VTH_MAX = 4 * VTH  # ... up to 2**20 (8x headroom to the 24-bit limit) when small weights need it
VTH_LIMIT = 2 ** 17 - 1  # vth is a 17-bit register
LARGE = 0.01  # relative quantisation errors above this are warnings
WEIGHT_EXP = (-8, 7)  # range of Dense's weight_exp
BIAS_MANT = 4095  # |bias_mant| (13-bit signed)
BIAS_EXP = 7  # bias_exp is 3-bit unsigned
UV_MAX = 2 ** 23  # u and v are 24-bit signed
NORMAL_RANGE = 4.0  # a normal draw is taken to lie within +-4 sigma when bounding weights


class NotLoihi(Exception):
    """A population or connection has no fixed-point form; the message says why."""


@dataclass
class Quantity:
    """One quantised number of the fixed-point network, for the build report."""

    owner: str  # population or connection
    name: str  # "dv", "vth", "weights", ...
    exact: float  # what the float spec asks for (in register units)
    quantised: float  # what the fixed-point network uses
    register: str  # how it is stored: "dv = 20", "mantissa <= 166, weight_exp 2"
    error: float  # relative error, as explained in ``measure``
    measure: str = "relative"

    @property
    def large(self) -> bool:
        return self.error > LARGE

    def line(self) -> str:
        flag = "  WARNING: large" if self.large else ""
        return (f"{self.owner}.{self.name}: {self.register} ({self.exact:.6g} -> {self.quantised:.6g}, "
                f"{self.measure} error {self.error:.2%}){flag}")


@dataclass
class FixedNeuron:
    """The fixed-point (Loihi CUBA) registers of one population."""

    population: str
    neuron: str
    voltage: str  # spec name of the voltage
    current: Optional[str]  # spec name of the synaptic current (Loihi's u), if any
    input_kind: str  # what the synapses add to: "current" | "voltage" | "input" | "none"
    strict: bool  # spike when V > vth << 6 (else >=)
    v_reset: float  # SI
    scale: float  # register units per SI unit of v: V = round((v - v_reset) * scale)
    current_scale: float  # u = round(current_scale * c) for a current c (SI)
    gain: float  # Dense output units (a_in) per unit delivered to the target variable
    du: int
    dv: int
    vth: int
    bias_mant: int  # the bias when it is one number (else 0: see bias_expr)
    bias_exp: int
    refractory: int  # steps
    #: the bias in register units per neuron, over per-neuron parameters (qualified names);
    #: None when it is one number. bias_mant = clip(rint(bias_expr / 2**bias_exp)) per neuron.
    bias_expr: Optional[sympy.Basic] = None
    voltage_name: str = ""  # qualified names of the voltage and the current
    current_name: Optional[str] = None
    quantities: list[Quantity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class FixedConnection:
    """Fixed-point weights of one connection: mantissa = rint(weight * gain / 2**weight_exp)."""

    connection: str
    gain: float  # Dense output units per unit of weight value (the target population's gain)
    weight_exp: int
    sign_mode: str  # "excitatory" | "inhibitory" | "mixed"
    low: float  # bounds of the weight values (SI of the target variable)
    high: float
    quantities: list[Quantity] = field(default_factory=list)


@dataclass
class FixedPoint:
    """The fixed-point form of a plan: registers per population, integer weights per connection,
    and why what has none has none."""

    neurons: dict[str, FixedNeuron]
    neuron_problems: dict[str, str]  # population -> why it has no fixed-point form
    connections: dict[str, FixedConnection]
    connection_problems: dict[str, str]  # connection -> why it has no fixed-point weights
    delivery: dict[str, str]  # connection -> qualified name of the target variable it adds weights to

    @property
    def complete(self) -> bool:
        """Whether the whole network has a fixed-point form."""
        return not (self.neuron_problems or self.connection_problems)

    def problems(self) -> list[str]:
        return ([f"population {p}: {r}" for p, r in self.neuron_problems.items()]
                + [f"connection {c}: {r}" for c, r in self.connection_problems.items()])

    def quantities(self) -> list[Quantity]:
        out: list[Quantity] = []
        for n in self.neurons.values():
            out += n.quantities
        for c in self.connections.values():
            out += c.quantities
        return out

    def report(self) -> list[str]:
        """Quantisation errors, notes, and why parts have no fixed-point form."""
        lines = [q.line() for q in self.quantities()]
        for n in self.neurons.values():
            lines += [f"{n.population}: {note}" for note in n.notes]
        return lines + [f"no fixed-point model: {p}" for p in self.problems()]


# ---- helpers ---------------------------------------------------------------------------

def _values(owner, params, constants, dt: float) -> dict:
    """Numbers of the parameters (those given per element stay symbols) and of the scheme's constants."""
    values = {DT: sympy.Float(dt)}
    for prm in params:
        if prm.value is not None:
            values[symbol(prm.name)] = sympy.Float(prm.value)
    for a in constants:
        values[symbol(a.target)] = a.expr.xreplace(values).evalf()
    return values


def _number(expr: sympy.Basic, what: str) -> float:
    expr = (expr if isinstance(expr, sympy.Basic) else sympy.Float(expr)).evalf()
    if expr.free_symbols:
        names = ", ".join(sorted(s.name for s in expr.free_symbols))
        raise NotLoihi(f"{what} depends on {names}, which differ per neuron or per step")
    try:
        return float(expr)
    except TypeError:
        raise NotLoihi(f"{what} is not a number: {expr}") from None


def _linear(expr: sympy.Basic, gens: list[sympy.Symbol], what: str,
            per_neuron: frozenset = frozenset()) -> tuple[dict, Union[float, sympy.Basic]]:
    """``expr`` as sum(coefficient * gen) + constant, or NotLoihi. The constant may depend on
    ``per_neuron`` symbols (then it is returned as an expression)."""
    expr = sympy.expand(expr)
    coeffs = {}
    rest = expr
    for g in gens:
        c = sympy.diff(expr, g)
        if c.free_symbols & set(gens) or c.has(sympy.Piecewise):
            raise NotLoihi(f"{what} is not linear in {g.name} (Loihi's neuron has linear decays only)")
        if c != 0:
            coeffs[g] = _number(c, f"the coefficient of {g.name} in {what}")
        rest = rest.subs(g, 0)
    rest = rest.evalf()
    if rest.free_symbols and rest.free_symbols <= per_neuron:
        return coeffs, rest
    return coeffs, _number(rest, f"the constant term of {what}")


def _mantissa_exp(value: float, mant_max: int, exp_range: tuple[int, int]) -> tuple[int, int]:
    """value ~ mant * 2**exp with |mant| <= mant_max, the smallest exp in range that fits."""
    if value == 0:
        return 0, max(exp_range[0], 0) if exp_range[0] <= 0 <= exp_range[1] else exp_range[0]
    exp = max(exp_range[0], min(exp_range[1], math.ceil(math.log2(abs(value) / mant_max)) if abs(value) > mant_max else 0))
    while exp > exp_range[0] and abs(value) / 2 ** (exp - 1) <= mant_max:
        exp -= 1
    mant = int(round(value / 2 ** exp))
    return max(-mant_max, min(mant_max, mant)), exp


def _leak_quantity(owner: str, name: str, decay: float, register: int, offset: int) -> Quantity:
    """A 12-bit decay; the error is that of the leak per step (1 - decay), what sets the time constant."""
    quantised = (4096 - register - offset) / 4096
    leak, qleak = 1 - decay, 1 - quantised
    error = abs(qleak - leak) / leak if leak > 1e-12 else abs(qleak - leak)
    return Quantity(owner, name, 4096 * leak, 4096 * qleak, f"{name} = {register}", error,
                    "leak-per-step")


def expr_range(expr: sympy.Basic, substitutions: dict, draws: list, indices: dict) -> tuple[float, float]:
    """Bounds of an expression of per-element draws (uniform in [0, 1], normal in +-NORMAL_RANGE)
    and indices (i, j in [0, n)), evaluated at the corners (exact for monotone expressions)."""
    expr = expr.xreplace(substitutions)
    axes = []
    for d in draws:
        if expr.has(symbol(d.name)):
            axes.append((symbol(d.name), (0.0, 1.0) if d.kind == "uniform" else (-NORMAL_RANGE, NORMAL_RANGE)))
    for name, n in indices.items():
        if expr.has(symbol(name)):
            axes.append((symbol(name), (0.0, float(max(n - 1, 0)))))
    if len(axes) > 6:
        raise NotLoihi("the weight depends on too many random numbers to bound it")
    values = []
    for corner in itertools.product(*(bounds for _, bounds in axes)):
        values.append(_number(expr.xreplace({s: sympy.Float(v) for (s, _), v in zip(axes, corner)}), "the weight"))
    return min(values), max(values)


# ---- populations --------------------------------------------------------------------------

def _population(plan: Plan, pop: PopulationPlan, targets: set[str], weights: list[float] = (),
                vth_choice: Optional[int] = None) -> FixedNeuron:
    """The Loihi CUBA form of a population, or NotLoihi with the reason."""
    if pop.method not in ("exact", "update"):
        raise NotLoihi(f"its equations are integrated with {pop.method} ({pop.method_reason}); Loihi's neuron "
                       "is a linear system with exact decays")
    values = _values(pop.name, pop.params, pop.constants, plan.dt)
    per_neuron = frozenset(symbol(p.name) for p in pop.params if p.value is None)
    state = [symbol(s) for s in pop.state]
    inputs = {symbol(a.name): a for a in pop.inputs}
    env: dict = {}
    for a in pop.integrate:
        env[symbol(a.target)] = a.expr.xreplace(values).xreplace(env)
    new = {s: env.get(s, s) for s in state}
    gens = state + list(inputs)
    local = lambda s: plan.symbols.local(s.name, pop.name)  # noqa: E731

    if pop.threshold is None:
        raise NotLoihi("it has no spike condition")
    rel = pop.threshold.xreplace(values)
    if isinstance(rel, (sympy.StrictGreaterThan, sympy.GreaterThan)):
        diff, strict = rel.lhs - rel.rhs, isinstance(rel, sympy.StrictGreaterThan)
    elif isinstance(rel, (sympy.StrictLessThan, sympy.LessThan)):
        diff, strict = rel.rhs - rel.lhs, isinstance(rel, sympy.StrictLessThan)
    else:
        raise NotLoihi(f"its spike condition {pop.threshold} is not 'v > threshold' or 'v >= threshold'")
    coeffs, const = _linear(diff, gens, "the spike condition")
    if len(coeffs) != 1 or next(iter(coeffs)) not in state or next(iter(coeffs.values())) <= 0:
        raise NotLoihi(f"its spike condition {pop.threshold} is not 'v > threshold' on one state variable")
    v, = coeffs
    threshold = -const / coeffs[v]

    if len(pop.reset) != 1 or pop.reset[0].target != v.name:
        raise NotLoihi(f"Loihi's reset sets only the voltage {local(v)} to a constant")
    if pop.reset[0].expr.has(v):
        shown = pop.reset[0].expr.xreplace({s: symbol(local(s)) for s in pop.reset[0].expr.free_symbols})
        raise NotLoihi(f"its reset {local(v)} = {shown} depends on {local(v)}; Loihi's reset sets the "
                       "voltage to a constant")
    v_reset = _number(pop.reset[0].expr.xreplace(values), "the reset value")
    if threshold <= v_reset:
        raise NotLoihi("its threshold is not above its reset value")

    refractory = 0
    if pop.refractory is not None:
        refractory = int(_number(pop.refractory.xreplace(values), "the refractory period"))
    if set(pop.gated) - {v.name}:
        raise NotLoihi("variables other than the voltage are held while refractory")

    input_values = {}
    for sym, a in inputs.items():
        if a.draws or a.expr.free_symbols - set(values):
            raise NotLoihi(f"its input {local(sym)} = {a.expr} changes per neuron or per step; the bias of Loihi's "
                           "neuron is constant")
        input_values[sym] = _number(a.expr.xreplace(values), f"the input {local(sym)}")

    currents = [s for s in state if s != v]
    vc, vconst = _linear(new[v], gens, f"the update of {local(v)}", per_neuron)
    a_vv = vc.get(v, 0.0)
    decays, feeds = {}, {}  # current -> its decay per step; current -> (input feeding it, factor)
    for c in currents:
        cc, cconst = _linear(new[c], gens, f"the update of {local(c)}")
        fed = [x for x in cc if x in inputs]
        if set(cc) - {c} - set(fed) or cconst != 0 or len(fed) > 1:
            raise NotLoihi(f"{local(c)} is not a decaying synaptic current (it depends on "
                           f"{', '.join(local(s) for s in cc if s != c) or 'a constant'}); Loihi's CUBA neuron has "
                           "a current and a voltage only")
        decays[c] = cc.get(c, 0.0)
        if fed:  # Lava's own form: u = u * (1 - du) + a
            feeds[c] = (fed[0], cc[fed[0]])
    if not 0 < a_vv <= 1:
        raise NotLoihi(f"the voltage decay per step {a_vv:g} is not in (0, 1]")

    target_syms = {symbol(t) for t in targets}
    if len(target_syms) > 1:
        raise NotLoihi(f"its synapses add to {len(target_syms)} variables ({', '.join(sorted(local(t) for t in target_syms))}); "
                       "Loihi's CUBA neuron has one input current")
    init = {symbol(a.name): a for a in pop.arrays}
    for c in currents:
        if c not in target_syms and c not in feeds and vc.get(c, 0) and init[c].expr != 0:
            raise NotLoihi(f"{local(c)} starts non-zero but no synapse adds to it")
    fed_by = {x: c for c, (x, _) in feeds.items()}
    if len(fed_by) < len(feeds):
        raise NotLoihi("one input feeds two currents; Loihi's CUBA neuron has one current")
    for x, c in fed_by.items():
        if (target_syms and x not in target_syms) or input_values[x] != 0:
            raise NotLoihi(f"its input {local(x)} feeds the current {local(c)} but is not what the synapses add to "
                           f"(starting at 0 every step); Loihi's current adds only synaptic input")
    notes: list[str] = []
    target = next(iter(target_syms), None)
    if target is None and fed_by:  # no synapse adds to it (yet): the current its input feeds is still Loihi's u
        target = next(iter(fed_by))
    if target is None:
        kind, k, a_cc, current = "none", 1.0, 0.0, None
    elif target in decays:
        kind, k, a_cc, current = "current", vc.get(target, 0.0), decays[target], target
        if k == 0:
            raise NotLoihi(f"the current {local(target)} does not reach the voltage")
    elif target in fed_by:  # synapses add to x, the current c = a_cc c + b x reaches v
        current = fed_by[target]
        kind, k, a_cc = "current", vc.get(target, 0.0), decays[current]
        b = feeds[current][1]
        if k == 0:
            raise NotLoihi(f"the current {local(current)} does not reach the voltage")
        if a_cc > 0 and not math.isclose(vc.get(current, 0.0), k * a_cc / b, rel_tol=1e-9):
            raise NotLoihi(f"its input {local(target)} reaches {local(v)} other than through the current "
                           f"{local(current)}")
    elif target == v:
        kind, k, a_cc, current = "voltage", a_vv, 0.0, None
        if refractory:
            notes.append(f"input arriving while refractory is dropped in fixed point (the spec adds it to "
                         f"{local(v)} while it is held)")
    elif target in inputs:
        kind, k, a_cc, current = "input", vc.get(target, 0.0), 0.0, None
    else:
        raise NotLoihi(f"its synapses add to {local(target)}, which is neither its voltage, a current nor an input")

    if vth_choice is not None:  # the spec's loihi_vth
        vth = int(vth_choice)
    else:
        # The threshold register: VTH, doubled (up to VTH_MAX) while the largest weight of an incoming
        # connection would need a negative weight_exp, which Lava's Dense applies by shifting the
        # summed input right, flooring it every step: a bias that the voltage integrates.
        vth = VTH
        biggest = [k * w * vth / (threshold - v_reset) for w in weights if w > 0]  # a_in units per weight
        while biggest and min(biggest) < 128 and vth < VTH_MAX:
            vth *= 2
            biggest = [2 * b for b in biggest]
    scale = vth * 64 / (threshold - v_reset)
    drive = sum(vc.get(x, 0.0) * val for x, val in input_values.items() if x not in fed_by) + (a_vv - 1) * v_reset
    bias_expr = None
    name = pop.name
    if isinstance(vconst, sympy.Basic):  # a bias per neuron: its exponent from the range of the per-neuron values
        bias_expr = (scale * (vconst + drive)).evalf()
        arrays = {symbol(a.name): a for a in pop.arrays if symbol(a.name) in per_neuron}
        draws = [d for s in vconst.free_symbols for d in arrays[s].draws]
        indices = {"i": pop.size}
        subs = {s: arrays[s].expr.xreplace(values).xreplace({symbol("N"): sympy.Integer(pop.size)})
                for s in vconst.free_symbols}
        low, high = expr_range(bias_expr, subs, draws, indices)
        bias = max(abs(low), abs(high))
        _, bias_exp = _mantissa_exp(bias, BIAS_MANT, (0, BIAS_EXP))
        bias_mant = 0
        qbias = min(bias, BIAS_MANT * 2 ** bias_exp)
        bias_error = 2 ** bias_exp / 2
        register = f"bias_mant per neuron (|bias| <= {bias:.6g}), bias_exp = {bias_exp}"
    else:
        bias = scale * (vconst + drive)
        bias_mant, bias_exp = _mantissa_exp(bias, BIAS_MANT, (0, BIAS_EXP))
        qbias = bias_mant * 2 ** bias_exp
        bias_error = abs(qbias - bias)
        register = f"bias_mant = {bias_mant}, bias_exp = {bias_exp}"
    du = int(min(4095, max(0, round(4095 - 4096 * a_cc)))) if kind == "current" else 4095
    dv = int(min(4095, max(0, round(4096 * (1 - a_vv)))))
    gain = k * scale / 64
    quantities = [_leak_quantity(name, "dv", a_vv, dv, 0)]
    if kind == "current":
        quantities.append(_leak_quantity(name, "du", a_cc, du, 1))
    chosen = " (the spec's loihi_vth)" if vth_choice is not None else ""
    quantities.append(Quantity(name, "vth", threshold, threshold,
                               f"vth = {vth}{chosen} (scale {scale:.6g} per SI unit)", 0.0))
    holding = scale * (threshold - v_reset) * (1 - a_vv)  # the bias that holds v at the threshold
    quantities.append(Quantity(name, "bias", bias, qbias, register,
                               bias_error / max(abs(bias), holding, 1.0), "relative (to the larger of the bias "
                               "and the bias holding v at threshold)"))
    if abs(bias) > BIAS_MANT * 2 ** BIAS_EXP:
        notes.append(f"the bias {bias:.6g} saturates at {BIAS_MANT * 2 ** BIAS_EXP}")
    if vth > VTH_LIMIT:
        raise NotLoihi(f"its threshold register vth = {vth} does not fit Loihi's 17 bits")
    if current is None:
        current_scale = 0.0
    elif a_cc > 0:
        current_scale = vc.get(current, 0.0) * scale / a_cc
    else:  # the current is replaced every step: its value reaches v with the input's factor
        current_scale = k * scale / (feeds[current][1] if current in feeds else 1.0)
    return FixedNeuron(population=name, neuron=pop.neuron, voltage=local(v),
                       current=local(current) if current is not None else None,
                       input_kind=kind, strict=strict, v_reset=v_reset, scale=scale, current_scale=current_scale,
                       gain=gain, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp,
                       refractory=refractory, bias_expr=bias_expr, voltage_name=v.name,
                       current_name=current.name if current is not None else None, quantities=quantities, notes=notes)


# ---- connections ----------------------------------------------------------------------------

def delivery_target(c: ConnectionPlan) -> str:
    """The qualified variable of the target population that this connection adds weights to."""
    if c.syn_integrate:
        raise NotLoihi("its synapses have their own equations; Lava's connection processes hold weights only")
    if c.linear is not None:
        return c.linear[0]
    effects = [s for s in c.on_pre if s.side == "target"]
    refuse = NotLoihi("its on_pre effect on the target is not 'x_post += weight'; Lava's Dense can only add weights")
    if len(effects) != 1 or effects[0].index != "post" or effects[0].op not in ("+=", "-="):
        raise refuse
    if any(c.indexed.get(s.name) in ("pre", "post") for s in effects[0].expr.free_symbols):
        raise refuse  # the weight added depends on a neuron's state
    return effects[0].target


def weight_expr(c: ConnectionPlan) -> sympy.Basic:
    """What one spike adds to the target variable, per synapse (a weight array or a constant)."""
    if c.linear is not None:
        return c.linear[1]
    effect = next(s for s in c.on_pre if s.side == "target")
    return effect.expr if effect.op == "+=" else -effect.expr


def _weight_range(c: ConnectionPlan, dt: float) -> tuple[float, float]:
    values = _values(c.name, c.params, c.syn_constants, dt)
    expr = weight_expr(c).xreplace(values)
    draws, subs = [], {}
    for a in c.arrays:
        if expr.has(symbol(a.name)):
            subs[symbol(a.name)] = a.expr.xreplace(values)
            draws += a.draws
    return expr_range(expr.xreplace(subs), {}, draws, {"i": c.n_pre, "j": c.n_post})


def _connection(c: ConnectionPlan, neuron: FixedNeuron, dt: float, bounds=None) -> FixedConnection:
    low, high = _weight_range(c, dt)
    if bounds is not None:  # a plastic weight stays within its clip bounds
        low, high = min(low, bounds[0]), max(high, bounds[1])
    gain = neuron.gain
    lo, hi = gain * low, gain * high  # Dense output units
    if lo >= 0:
        mode, pos, neg, step = "excitatory", 255, 0, 1
    elif hi <= 0:
        mode, pos, neg, step = "inhibitory", 0, 255, 1
    else:
        mode, pos, neg, step = "mixed", 254, 256, 2
    need = max(hi / pos if pos else 0.0, -lo / neg if neg else 0.0)  # 2**exp needed
    exp = WEIGHT_EXP[0] if need == 0 else max(WEIGHT_EXP[0], min(WEIGHT_EXP[1], math.ceil(math.log2(need))))
    biggest = max(abs(lo), abs(hi))
    if exp < 0 and biggest >= 64:
        # a negative weight_exp shifts the summed input right, flooring it every step (a bias the
        # voltage integrates): 7 bits of unbiased rounding are the better trade
        exp = 0
    unit = 2 ** exp
    saturated = biggest / unit > max(pos, neg)
    error = (step / 2 * unit / biggest) if biggest else 0.0
    if saturated:
        error = max(error, (biggest / unit - max(pos, neg)) / (biggest / unit))
    shown = max(abs(round(hi / unit)), abs(round(lo / unit)))
    q = Quantity(c.name, "weights", biggest, min(biggest, unit * max(pos, neg)),
                 f"{mode} 8-bit mantissas (|mantissa| <= {shown}), weight_exp {exp}", error,
                 "relative (largest rounding error over the largest weight)")
    return FixedConnection(connection=c.name, gain=gain, weight_exp=exp, sign_mode=mode, low=low, high=high,
                           quantities=[q])


# ---- the network ------------------------------------------------------------------------------

def fixed_point(plan: Plan) -> FixedPoint:
    """The fixed-point form of every population and connection of a plan (``plan.loihi_vth``: the
    threshold register chosen by the spec, else chosen here)."""
    pops = {p.name: p for p in plan.populations}
    targets: dict[str, set[str]] = {p.name: set() for p in plan.populations}
    delivery: dict[str, str] = {}
    connection_problems: dict[str, str] = {}
    for c in plan.connections:
        if c.target not in pops:
            connection_problems[c.name] = f"its target {c.target} is not a population"
            continue
        try:
            delivery[c.name] = delivery_target(c)
        except NotLoihi as e:
            connection_problems[c.name] = str(e)
            continue
        targets[c.target].add(delivery[c.name])
        if c.linear is None:
            connection_problems[c.name] = ("fixed-point learning (LearningDense's bit-approximate model) is not "
                                           "generated; plastic connections run in floating point")
    incoming: dict[str, list[float]] = {p.name: [] for p in plan.populations}
    for c in plan.connections:
        if c.name in delivery and c.name not in connection_problems:
            try:
                incoming[c.target].append(max(abs(x) for x in _weight_range(c, plan.dt)))
            except NotLoihi:
                pass
    neurons: dict[str, FixedNeuron] = {}
    neuron_problems: dict[str, str] = {}
    for pop in plan.populations:
        try:
            neurons[pop.name] = _population(plan, pop, targets[pop.name], incoming[pop.name], plan.loihi_vth)
        except NotLoihi as e:
            neuron_problems[pop.name] = str(e)
    connections: dict[str, FixedConnection] = {}
    for c in plan.connections:
        if c.name not in delivery or c.name in connection_problems:
            continue
        neuron = neurons.get(c.target)
        if neuron is None:
            connection_problems[c.name] = f"its target {c.target} has no fixed-point model"
            continue
        try:
            connections[c.name] = _connection(c, neuron, plan.dt)
        except NotLoihi as e:
            connection_problems[c.name] = str(e)
    return FixedPoint(neurons=neurons, neuron_problems=neuron_problems, connections=connections,
                      connection_problems=connection_problems, delivery=delivery)
