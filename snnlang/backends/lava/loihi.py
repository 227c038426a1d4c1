"""Loihi: what of a Plan maps onto Loihi's fixed-point arithmetic and Lava's processes, and how.

The decisions of the Lava target, made once here from the Plan (the backend,
the Lava printer, ``backends/lava/``, only prints them):

* **Delivery.** Lava's ``Dense`` (and ``Sparse``, ``DelayDense``, ``LearningDense``)
  can only *add weights* to its target: a connection maps onto one when its
  ``on_pre`` effect on the target is ``x_post += weight`` (``Plan.linear``) or it is
  a recognised pair-STDP rule; anything else is an error of the Lava target.
* **The LIF shape.** A population gets a bit-accurate fixed-point model when one
  step of its plan is Loihi's CUBA neuron: a voltage ``v`` whose new value is
  linear, ``a_vv v + a_vc c + b x + c0``, at most one synaptic current ``c``
  (``c' = a_cc c``) or an input variable ``x`` that the synapses add to, a
  threshold ``v > th`` or ``v >= th``, a reset ``v = v_reset`` and an optional
  refractory period in steps. Anything else gets a reason (a diagnostic) and
  only the floating-point model.
* **Quantisation.** The voltage register is ``V = (v - v_reset) * scale`` with
  ``scale`` chosen so that the threshold is exactly ``vth << 6``, ``vth = VTH`` doubled
  (up to ``VTH_MAX``) while incoming weights would need a negative ``weight_exp``; decays
  are 12-bit (``dv = 4096 (1 - a_vv)``, ``du = 4095 - 4096 a_cc``, Loihi's ``ds_offset``
  of 1 included); the constant drive becomes the bias ``bias_mant << bias_exp``; weights
  become 8-bit mantissas with a shared exponent per connection (``Dense``'s
  ``weight_exp``, kept >= 0 when 64 mantissa steps remain: Lava floors the summed input
  of a negative one every step), the mixed-sign ones even numbers in [-256, 254] as
  Lava's ``Dense`` keeps them. Each quantity's relative error is reported, and flagged
  when above ``LARGE``.
* **Plasticity.** Pair STDP (traces with one time constant each, ``x += a`` on
  the spike of their side, ``w = clip(w -/+ A * trace, 0, w_max)``, one delay of one
  step, a spike adding ``k * w`` to its target) has a Loihi form: Lava's
  ``Loihi2FLearningRule`` on a ``LearningDense``, in ``STDPLoihi``'s form
  ``dw = -x0 y1 + y0 x1`` with the amplitudes in the trace impulses. Lava's own
  floating-point ``LearningDense`` pairs a spike when it is emitted and sends weights
  one update late, so the Lava target runs such a connection in floating point as a
  generated process with the spec's order of a step (``backends/lava/learning.py``),
  and records the Loihi form. Plasticity without a Loihi form is refused, located.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Optional

import sympy

from ...diagnostics import Diagnostics, SpecError
from ...functions import clip, symbol
from ...model import Loc
from ...plan.integrate import DT
from ...plan.ir import ConnectionPlan, Plan, PopulationPlan

VTH = 4096  # threshold mantissa: (threshold - reset) = VTH << 6 register units = 2**18 ...
VTH_MAX = 4 * VTH  # ... up to 2**20 (8x headroom to the 24-bit limit) when small weights need it
LARGE = 0.01  # relative quantisation errors above this are warnings
WEIGHT_EXP = (-8, 7)  # range of Dense's weight_exp
BIAS_MANT = 4095  # |bias_mant| (13-bit signed)
BIAS_EXP = 7  # bias_exp is 3-bit unsigned
UV_MAX = 2 ** 23  # u and v are 24-bit signed
STEP = symbol("step")  # the step counter of lazily decayed traces
NORMAL_RANGE = 4.0  # a normal draw is taken to lie within +-4 sigma when bounding weights


class NotLoihi(Exception):
    """A population, connection or rule cannot be expressed on Loihi; the message says why."""


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
class LoihiNeuron:
    """The fixed-point (Loihi CUBA) form of one population."""

    population: str
    neuron: str
    voltage: str  # spec name of the voltage
    current: Optional[str]  # spec name of the synaptic current the weights add to, if any
    input_kind: str  # what the synapses add to: "current" | "voltage" | "input" | "none"
    strict: bool  # spike when V > vth << 6 (else >=)
    v_reset: float  # SI
    scale: float  # register units per SI unit of v: V = round((v - v_reset) * scale)
    current_scale: float  # u = round(current_scale * c) for an initial current c (SI)
    gain: float  # Dense output units (a_in) per unit delivered to the target variable
    du: int
    dv: int
    vth: int
    bias_mant: int
    bias_exp: int
    refractory: int  # steps
    quantities: list[Quantity] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class LoihiConnection:
    """Fixed-point weights of one connection: mantissa = rint(weight * gain / 2**weight_exp)."""

    connection: str
    gain: float  # Dense output units per unit of weight value (the target population's gain)
    weight_exp: int
    sign_mode: str  # "excitatory" | "inhibitory" | "mixed"
    low: float  # bounds of the weight values (SI of the target variable)
    high: float
    quantities: list[Quantity] = field(default_factory=list)


@dataclass
class LoihiSTDP:
    """A pair-STDP connection and its Loihi form, Lava's Loihi2FLearningRule on a LearningDense:
    ``dw = -x0 * y1 + y0 * x1``, the amplitudes carried by the trace impulses (spec weight units)."""

    connection: str
    weight: str  # qualified name of the plastic weight array
    gain: float  # what one presynaptic spike adds to the target per unit of weight (the on_pre factor)
    tau_pre: float  # trace time constants in steps
    tau_post: float
    impulse_pre: float  # x1_impulse: A_plus * the spec's presynaptic trace increment
    impulse_post: float  # y1_impulse: A_minus * the spec's postsynaptic trace increment
    a_minus: float  # w -= a_minus * post trace at a presynaptic spike
    a_plus: float  # w += a_plus * pre trace at a postsynaptic spike
    w_min: Optional[float]
    w_max: Optional[float]
    dw: str  # the learning rule, in Lava's syntax ("" when it never changes a weight)
    notes: list[str] = field(default_factory=list)


@dataclass
class LoihiError:
    """What no Lava process can express: the Lava target refuses the spec at this construct."""

    kind: str  # "connection" | "population"
    name: str
    message: str
    part: str = ""  # "delay": the connection's delay; "synapse": its synapse model; "": the construct

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.message}"


@dataclass
class LoihiPlan:
    neurons: dict[str, LoihiNeuron]
    neuron_problems: dict[str, str]  # population -> why it has no fixed-point model
    connections: dict[str, LoihiConnection]
    connection_problems: dict[str, str]  # connection -> why it has no fixed-point weights
    plasticity: dict[str, LoihiSTDP]
    delivery: dict[str, str]  # connection -> spec name of the target variable its Dense adds to
    errors: list[LoihiError]  # what no Lava process can express (the Lava target refuses the spec)
    notes: list[str] = field(default_factory=list)

    @property
    def fixed_point(self) -> bool:
        """Whether the whole network has a fixed-point form."""
        return not (self.neuron_problems or self.connection_problems or self.errors)

    def fixed_point_problems(self) -> list[str]:
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
        """The build report: quantisation errors, and why parts have no fixed-point form."""
        lines = [f"error: {e}" for e in self.errors]
        lines += [q.line() for q in self.quantities()]
        for n in self.neurons.values():
            lines += [f"{n.population}: {note}" for note in n.notes]
        for s in self.plasticity.values():
            lines += [f"{s.connection}: {note}" for note in s.notes]
        lines += [f"no fixed-point model: {p}" for p in self.fixed_point_problems()]
        lines += self.notes
        return lines


# ---- helpers ---------------------------------------------------------------------------

def _unqualify(name: str, owner: str, names) -> str:
    """What a generated name means to its owner (``exc_v`` -> ``v``), from the symbol table."""
    return names.local(name, owner)


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


def _linear(expr: sympy.Basic, gens: list[sympy.Symbol], what: str) -> tuple[dict, float]:
    """``expr`` as sum(coefficient * gen) + constant, or NotLoihi."""
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

def _population(plan: Plan, pop: PopulationPlan, targets: set[str], weights: list[float] = ()) -> LoihiNeuron:
    """The Loihi CUBA form of a population, or NotLoihi with the reason."""
    if pop.method not in ("exact", "update"):
        raise NotLoihi(f"its equations are integrated with {pop.method} ({pop.method_reason}); Loihi's neuron "
                       "is a linear system with exact decays")
    values = _values(pop.name, pop.params, pop.constants, plan.dt)
    state = [symbol(s) for s in pop.state]
    inputs = {symbol(a.name): a for a in pop.inputs}
    env: dict = {}
    for a in pop.integrate:
        env[symbol(a.target)] = a.expr.xreplace(values).xreplace(env)
    new = {s: env.get(s, s) for s in state}
    gens = state + list(inputs)
    local = lambda s: _unqualify(s.name, pop.name, plan.symbols)  # noqa: E731

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
    vc, vconst = _linear(new[v], gens, f"the update of {local(v)}")
    a_vv = vc.get(v, 0.0)
    decays = {}
    for c in currents:
        cc, cconst = _linear(new[c], gens, f"the update of {local(c)}")
        if set(cc) - {c} or cconst != 0:
            raise NotLoihi(f"{local(c)} is not a decaying synaptic current (it depends on "
                           f"{', '.join(local(s) for s in cc if s != c) or 'a constant'}); Loihi's CUBA neuron has "
                           "a current and a voltage only")
        decays[c] = cc.get(c, 0.0)
    if not 0 < a_vv <= 1:
        raise NotLoihi(f"the voltage decay per step {a_vv:g} is not in (0, 1]")

    target_syms = {symbol(t) for t in targets}
    if len(target_syms) > 1:
        raise NotLoihi(f"its synapses add to {len(target_syms)} variables ({', '.join(sorted(local(t) for t in target_syms))}); "
                       "Loihi's CUBA neuron has one input current")
    init = {symbol(a.name): a for a in pop.arrays}
    for c in currents:
        if c not in target_syms and vc.get(c, 0) and init[c].expr != 0:
            raise NotLoihi(f"{local(c)} starts non-zero but no synapse adds to it")
    notes: list[str] = []
    target = next(iter(target_syms), None)
    if target is None:
        kind, k, a_cc, current = "none", 1.0, 0.0, None
    elif target in decays:
        kind, k, a_cc, current = "current", vc.get(target, 0.0), decays[target], local(target)
        if k == 0:
            raise NotLoihi(f"the current {local(target)} does not reach the voltage")
    elif target == v:
        kind, k, a_cc, current = "voltage", a_vv, 0.0, None
        if refractory:
            notes.append(f"input arriving while refractory is dropped in fixed point (the spec adds it to "
                         f"{local(v)} while it is held)")
    elif target in inputs:
        kind, k, a_cc, current = "input", vc.get(target, 0.0), 0.0, None
    else:
        raise NotLoihi(f"its synapses add to {local(target)}, which is neither its voltage, a current nor an input")

    # The threshold register: VTH, doubled (up to VTH_MAX) while the largest weight of an incoming
    # connection would need a negative weight_exp, which Lava's Dense applies by shifting the
    # summed input right, flooring it every step: a bias that the voltage integrates.
    vth = VTH
    biggest = [k * w * vth / (threshold - v_reset) for w in weights if w > 0]  # a_in units per weight
    while biggest and min(biggest) < 128 and vth < VTH_MAX:
        vth *= 2
        biggest = [2 * b for b in biggest]
    scale = vth * 64 / (threshold - v_reset)
    bias = scale * (vconst + sum(vc.get(x, 0.0) * val for x, val in input_values.items()) + (a_vv - 1) * v_reset)
    if kind == "current":
        du = int(min(4095, max(0, round(4095 - 4096 * a_cc))))
    else:
        du = 4095
    dv = int(min(4095, max(0, round(4096 * (1 - a_vv)))))
    bias_mant, bias_exp = _mantissa_exp(bias, BIAS_MANT, (0, BIAS_EXP))
    gain = k * scale / 64
    name = pop.name
    quantities = [_leak_quantity(name, "dv", a_vv, dv, 0)]
    if kind == "current":
        quantities.append(_leak_quantity(name, "du", a_cc, du, 1))
    quantities.append(Quantity(name, "vth", threshold, threshold, f"vth = {vth} (scale {scale:.6g} per SI unit)", 0.0))
    qbias = bias_mant * 2 ** bias_exp
    holding = scale * (threshold - v_reset) * (1 - a_vv)  # the bias that holds v at the threshold
    quantities.append(Quantity(name, "bias", bias, qbias, f"bias_mant = {bias_mant}, bias_exp = {bias_exp}",
                               abs(qbias - bias) / max(abs(bias), holding, 1.0), "relative (to the larger of the bias "
                               "and the bias holding v at threshold)"))
    if abs(bias) > BIAS_MANT * 2 ** BIAS_EXP:
        notes.append(f"the bias {bias:.6g} saturates at {qbias}")
    current_scale = k * scale / a_cc if kind == "current" and a_cc > 0 else 0.0
    return LoihiNeuron(population=name, neuron=pop.neuron, voltage=local(v), current=current, input_kind=kind,
                       strict=strict, v_reset=v_reset, scale=scale, current_scale=current_scale, gain=gain, du=du,
                       dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp, refractory=refractory,
                       quantities=quantities, notes=notes)


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


def _connection(c: ConnectionPlan, neuron: LoihiNeuron, dt: float, bounds=None) -> LoihiConnection:
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
    return LoihiConnection(connection=c.name, gain=gain, weight_exp=exp, sign_mode=mode, low=low, high=high,
                           quantities=[q])


# ---- plasticity ---------------------------------------------------------------------------

def _stdp(c: ConnectionPlan, dt: float, names) -> LoihiSTDP:
    """Recognise pair STDP in a connection's plan (see the module docstring), or NotLoihi."""
    values = _values(c.name, c.params, c.trace_constants + c.syn_constants, dt)
    if sorted(c.trace_side.values()) != ["post", "pre"]:
        raise NotLoihi("its rule is not pair STDP (one presynaptic and one postsynaptic trace)")
    pre = next(symbol(n) for n, s in c.trace_side.items() if s == "pre")
    post = next(symbol(n) for n, s in c.trace_side.items() if s == "post")
    # Traces the plan decays lazily are read as x * factor**(step - x_last): read now, that is x.
    stamps = {symbol(t.name): STEP for t in c.traces
              if (names.meaning(t.name) or ("", ""))[1] == "last" and names.meaning(t.name)[0] in c.trace_side}
    env: dict = {}
    for a in c.trace_decay:
        env[symbol(a.target)] = a.expr.xreplace(values).xreplace(env)
    taus = {}
    for tr in (pre, post):
        if tr in env:
            coeffs, const = _linear(env[tr], [pre, post], f"the decay of the trace {tr.name}")
            factor = coeffs.get(tr, 0.0) if set(coeffs) == {tr} and const == 0 else None
        else:
            lazy = names.get(c.name, f"decay_{_unqualify(tr.name, c.name, names)}")
            factor = _number(values[symbol(lazy)], "a trace decay") if lazy and symbol(lazy) in values else None
        if factor is None or not 0 < factor < 1:
            raise NotLoihi(f"the trace {_unqualify(tr.name, c.name, names)} does not decay exponentially on its own")
        taus[tr] = -1 / math.log(factor)
        for a in c.traces:
            if a.name == tr.name and a.expr != 0:
                raise NotLoihi(f"the trace {_unqualify(tr.name, c.name, names)} does not start at 0")
    weights = set(c.state)
    rule: dict = {}
    for event, mine, other in (("pre", pre, post), ("post", post, pre)):
        statements = c.on_pre if event == "pre" else c.on_post
        for st in statements:
            if st.side == "target" and event == "post":
                raise NotLoihi(f"its on_post changes {st.target} of the presynaptic neurons; a Loihi synapse only "
                               "sends its weight to the postsynaptic neuron")
            if st.side == "target" or symbol(st.target) in stamps:
                continue
            expr = st.expr.xreplace(values).xreplace(stamps)
            if st.side == event and symbol(st.target) == mine:
                coeffs, const = _linear(expr, [mine], f"the update of {st.target}")
                if coeffs.get(mine) != 1.0 or const <= 0:
                    raise NotLoihi(f"the trace {_unqualify(st.target, c.name, names)} is not increased by a constant "
                                   "at a spike (Loihi's traces add an impulse)")
                rule[f"impulse_{event}"] = const
            elif st.side == "synapse" and st.target in weights:
                low = high = None
                if isinstance(expr, sympy.Function) and expr.func == clip:
                    expr, low, high = expr.args
                    low, high = _number(low, "the lower weight bound"), _number(high, "the upper weight bound")
                w = symbol(st.target)
                shown = st.expr.xreplace(stamps)  # the traces as read now, without the lazy decay
                shown = shown.xreplace({s: symbol(_unqualify(s.name, c.name, names)) for s in shown.free_symbols})
                refuse = NotLoihi(f"the weight update {_unqualify(st.target, c.name, names)} = {shown} on a {event}synaptic "
                                  "spike is not w +- A * trace (the additive pair rule)")
                try:
                    coeffs, const = _linear(expr, [w, other], "the weight update")
                except NotLoihi:
                    raise refuse from None
                if coeffs.get(w) != 1.0 or const != 0:
                    raise refuse
                if f"dw_{event}" in rule or rule.get("weight", st.target) != st.target:
                    raise NotLoihi(f"it changes weights twice on a {event}synaptic spike; Loihi's pair rule "
                                   "changes one weight once")
                if rule.setdefault("bounds", (low, high)) != (low, high):
                    raise NotLoihi("its two weight updates clip to different bounds; Loihi bounds a weight once")
                rule[f"dw_{event}"] = coeffs.get(other, 0.0)
                rule["weight"] = st.target
            else:
                raise NotLoihi(f"the statement {_unqualify(st.target, c.name, names)} = {st.expr} on a {event}synaptic "
                               "spike has no Loihi form")
    if "weight" not in rule or "impulse_pre" not in rule or "impulse_post" not in rule:
        raise NotLoihi("its rule is not pair STDP (a weight changed by the other side's trace on each spike)")
    a_minus, a_plus = -rule.get("dw_pre", 0.0), rule.get("dw_post", 0.0)
    low, high = rule["bounds"]
    if (low, high) != (None, None) and not (low == 0 and high > 0):
        raise NotLoihi(f"its weight bounds [{low:g}, {high:g}] have no Loihi form: a learned Loihi weight stops at 0 "
                       "and at its largest value, so the bounds must be [0, w_max]")
    # What a presynaptic spike adds to its target: k * w on Loihi (a weight and the target's gain).
    w = symbol(rule["weight"])
    what = f"what one spike adds to {_unqualify(delivery_target(c), c.target, names)}"
    coeffs, const = _linear(weight_expr(c).xreplace(values), [w], what)
    if set(coeffs) != {w} or const != 0:
        raise NotLoihi(f"{what} is not proportional to the weight {_unqualify(w.name, c.name, names)}; a Loihi synapse "
                       "sends its weight")
    # dw = -x0 * y1 + y0 * x1, the amplitudes carried by the trace impulses (STDPLoihi's form)
    terms = (["-x0 * y1"] if a_minus else []) + (["y0 * x1"] if a_plus else [])
    dw = " + ".join(terms)
    impulse_pre, impulse_post = a_plus * rule["impulse_pre"], a_minus * rule["impulse_post"]
    loihi = (f"Loihi2FLearningRule(dw={dw!r}, x1_tau={taus[pre]:.6g}, x1_impulse={impulse_pre:.6g}, "
             f"y1_tau={taus[post]:.6g}, y1_impulse={impulse_post:.6g}) on a LearningDense" if dw else
             "a Dense: its amplitudes are 0, so no weight changes (beyond the clip to its bounds)")
    notes = [f"pair STDP runs in floating point as a generated process, in the spec's order of a step (Lava's "
             f"LearningDense pairs a spike when it is emitted and sends weights one update late); its Loihi form: "
             f"{loihi}"]
    return LoihiSTDP(connection=c.name, weight=rule["weight"], gain=coeffs[w], tau_pre=taus[pre],
                     tau_post=taus[post], impulse_pre=impulse_pre, impulse_post=impulse_post, a_minus=a_minus,
                     a_plus=a_plus, w_min=low, w_max=high, dw=dw, notes=notes)


def _plastic_delay(c: ConnectionPlan, dt: float) -> None:
    """Loihi's learning synapses (Lava's LearningDense) have no delays: one step only, or NotLoihi."""
    if c.delay_array is not None:
        raise NotLoihi("its synapses have their own delays, and Loihi's learning synapses (Lava's LearningDense) "
                       "have none; give the connection a delay of one step (the default)")
    values = _values(c.name, c.params, c.syn_constants, dt)
    steps = _number(c.delay.xreplace(values), "its delay") if c.delay is not None else 1.0
    if steps != 1:
        raise NotLoihi(f"its delay is {steps:g} steps, and Loihi's learning synapses (Lava's LearningDense) have "
                       "no delays; give the connection a delay of one step (the default)")


# ---- the network ------------------------------------------------------------------------------

def loihi_plan(plan: Plan) -> LoihiPlan:
    """Every Loihi decision of a plan: deliveries, fixed-point neurons and weights, learning rules."""
    errors: list[LoihiError] = []
    delivery: dict[str, str] = {}
    plasticity: dict[str, LoihiSTDP] = {}
    connection_problems: dict[str, str] = {}
    targets: dict[str, set[str]] = {p.name: set() for p in plan.populations}
    pops = {p.name: p for p in plan.populations}
    for c in plan.connections:
        if c.target not in pops:
            errors.append(LoihiError("connection", c.name, f"its target {c.target} is not a population"))
            continue
        try:
            target = delivery_target(c)
        except NotLoihi as e:
            errors.append(LoihiError("connection", c.name, str(e)))
            continue
        if c.linear is None:  # plastic: pair STDP with one delay of one step, or refused
            try:
                _plastic_delay(c, plan.dt)
            except NotLoihi as e:
                errors.append(LoihiError("connection", c.name, str(e), part="delay"))
                continue
            try:
                plasticity[c.name] = _stdp(c, plan.dt, plan.symbols)
            except NotLoihi as e:
                errors.append(LoihiError("connection", c.name, f"{e}; the Lava target refuses plasticity "
                                         "without a Loihi form (a learning rule of Lava's LearningDense)", part="synapse"))
                continue
        delivery[c.name] = _unqualify(target, c.target, plan.symbols)
        targets[c.target].add(target)
    neurons: dict[str, LoihiNeuron] = {}
    neuron_problems: dict[str, str] = {}
    incoming: dict[str, list[float]] = {p.name: [] for p in plan.populations}
    for c in plan.connections:
        if c.name in delivery and c.name not in plasticity:
            try:
                incoming[c.target].append(max(abs(x) for x in _weight_range(c, plan.dt)))
            except NotLoihi:
                pass
    for pop in plan.populations:
        try:
            neurons[pop.name] = _population(plan, pop, targets[pop.name], incoming[pop.name])
        except NotLoihi as e:
            neuron_problems[pop.name] = str(e)
    connections: dict[str, LoihiConnection] = {}
    for c in plan.connections:
        if c.name not in delivery:
            continue
        neuron = neurons.get(c.target)
        if neuron is None:
            connection_problems.setdefault(c.name, f"its target {c.target} has no fixed-point model")
            continue
        if c.name in plasticity:
            connection_problems.setdefault(c.name, "fixed-point learning (LearningDense's bit-approximate model) "
                                                   "is not generated; plastic connections run in floating point")
            continue
        try:
            connections[c.name] = _connection(c, neuron, plan.dt)
        except NotLoihi as e:
            connection_problems[c.name] = str(e)
    return LoihiPlan(neurons=neurons, neuron_problems=neuron_problems, connections=connections,
                     connection_problems=connection_problems, plasticity=plasticity, delivery=delivery,
                     errors=errors)


def refusal(plan: Plan, errors: list[LoihiError]) -> SpecError:
    """The Lava target's refusal of a spec: each error at its construct (file:line:col).

    The plan holds no places, so they are read from the spec's model again (the spec
    was just loaded; this runs only when the target refuses it)."""
    from ...frontend import analyse

    model, found = analyse(plan.spec)
    network = model.networks.get(plan.network) if model is not None else None
    connections = {c.name: c for c in network.connections} if network is not None else {}
    populations = {p.name: p for p in network.populations} if network is not None else {}
    fallback = network.loc if network is not None else Loc(file=str(plan.spec), line=1, column=1)
    diags = Diagnostics()
    diags.sources.update(found.sources)
    for e in errors:
        loc = fallback
        if e.kind == "connection" and e.name in connections:
            c = connections[e.name]
            loc = {"delay": c.delay.loc if c.delay is not None else c.loc,
                   "synapse": c.synapse_loc or c.loc}.get(e.part, c.loc)
        elif e.kind == "population" and e.name in populations:
            loc = populations[e.name].loc
        diags.error(loc, f"target lava: {e}")
    return SpecError(diags)
