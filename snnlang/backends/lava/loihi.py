"""Loihi: what of a Plan maps onto Loihi's fixed-point arithmetic and Lava's processes, and how.

The decisions of the Lava target, made once here from the Plan (the backend,
the Lava printer, ``backends/lava/``, only prints them):

* **Delivery.** Lava's ``Dense`` (and ``Sparse``, ``DelayDense``, ``LearningDense``)
  can only *add weights* to its target: a connection maps onto one when its
  ``on_pre`` effect on the target is ``x_post += weight`` (``Plan.linear``) or it is
  a recognised pair-STDP rule; anything else is an error of the Lava target.
* **Fixed point.** Which populations are Loihi's CUBA neuron and their registers, the
  connections' 8-bit weights and exponents, the error report: the plan's
  (``snnlang/plan/fixed_point.py``), the same for every target; the Lava target prints
  them as ``fixed_pt`` process models.
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

import math
from dataclasses import dataclass, field
from typing import Optional

import sympy

from ...frontend.diagnostics import Diagnostics, SpecError
from ...frontend.functions import clip, symbol
from ...frontend.model import Loc
from ...plan.fixed_point import (  # noqa: F401  (VTH, Quantity, weight_expr: the Lava target's names for them)
    VTH, FixedConnection, FixedNeuron, NotLoihi, Quantity, _linear, _number, _values, delivery_target, fixed_point,
    weight_expr,
)
from ...plan.ir import ConnectionPlan, Plan

STEP = symbol("step")  # the step counter of lazily decayed traces
LoihiNeuron = FixedNeuron  # the names the Lava target's printers use
LoihiConnection = FixedConnection


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


def _unqualify(name: str, owner: str, names) -> str:
    """What a generated name means to its owner (``exc_v`` -> ``v``), from the symbol table."""
    return names.local(name, owner)


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
    """Every Loihi decision of a plan: deliveries, learning rules, and (the plan's, fixed_point.py)
    fixed-point neurons and weights."""
    errors: list[LoihiError] = []
    delivery: dict[str, str] = {}
    plasticity: dict[str, LoihiSTDP] = {}
    pops = {p.name for p in plan.populations}
    for c in plan.connections:
        if c.target not in pops:
            errors.append(LoihiError("connection", c.name, f"its target {c.target} is not a population"))
            continue
        if c.refractory_reads:  # Lava's Dense and Sparse processes add weights; they read no neuron's state
            read = ", ".join(sorted(set(c.refractory_reads.values())))
            errors.append(LoihiError("connection", c.name, f"its on_pre reads the refractoriness of {read} "
                                     "(refractory_post or refractory_pre, or an addition to a variable held while "
                                     "refractory under 'as brian2'), which a Lava synapse cannot; use --target "
                                     "numpy or cupy", part="synapse"))
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
    fp = plan.fixed_point if plan.fixed_point is not None else fixed_point(plan)
    return LoihiPlan(neurons=fp.neurons, neuron_problems=fp.neuron_problems, connections=fp.connections,
                     connection_problems={c: r for c, r in fp.connection_problems.items() if c in delivery},
                     plasticity=plasticity, delivery=delivery, errors=errors)


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
