"""Memory: what a run of a plan needs, estimated from the plan before anything is allocated.

The estimate counts what the NumPy target keeps (docs/numpy.md), part by part:

* a **population**: its per-neuron arrays (state, per-neuron parameters, inputs, the
  stacked buffers of an exact scheme, refractory steps), the copy of its state that the
  NaN check takes every chunk of steps, and a few arrays of work while a step runs;
* a **source** (an input): the random numbers a poisson input draws for several steps at
  once, an ``events()`` input's spike flags (its queue is what ``feed_events`` is given);
* a **connection**: its synapses (expected: ``p * N_pre * N_post``, ``indegree * N_post``,
  ``N_pre * N_post`` for ``all_to_all``; a ``p`` or a condition of ``i, j`` sampled at 128
  pairs) times what each synapse holds: its pre and post indices and its index, the
  temporaries of drawing them, its state arrays (kept, and the NaN check's copy), its
  random draws, per-synapse traces and delays, the order of the synapses by target
  (``on_post``), a weight per synapse where the weight reads state, and with a delay per
  synapse the copies sorted by delay; and per connection: a dense weight matrix, each
  source neuron's list of targets, CSR row pointers per delay;
* a **spike history** per source: its longest delay in steps (a delay drawn per synapse:
  the largest value its expression can take) x its neurons, one byte each, and its copy;
* a **monitor**: a state monitor exactly (samples x neurons x variables x 8 bytes, kept
  as recorded and stacked once more when written, and a copy of one variable as it is
  saved); a spike monitor records the spikes of its whole population, whose number is
  not known before the run: it is counted as one byte per neuron and step (one spike in 8
  steps of each neuron, 8 bytes a spike), a bound for any network that is not firing at
  a large fraction of its steps.

It is an estimate (tests/test_memory.py holds it to within a factor of two of the peak a
run reaches; it is within about a third on their networks), made to refuse what cannot
fit before minutes of building and an out-of-memory kill: ``LIF(1000000000)``, a 1e6 x
1e6 ``all_to_all``, a delay of a day. Other targets keep less on the host (CuPy: on the
GPU); the same estimate is their limit.
The limit (:mod:`snnlang.limits`) is three quarters of the machine's memory, or 16 GiB where
that is unknown; ``--max-memory`` (or ``SNNLANG_MAX_MEMORY``) sets another.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

import sympy

from ..frontend.functions import symbol
from ..limits import GiB, format_bytes, memory_limit
from .integrate import DT
from .ir import ConnectionPlan, MonitorPlan, Plan, PopulationPlan, SourcePlan

if TYPE_CHECKING:
    from ..frontend.diagnostics import Diagnostics
    from ..frontend.model import Loc, Network

_F, _I, _B = 8, 8, 1  # bytes of a float64, an int64, a bool
_ARRAY = 112  # bytes of a NumPy array object without its data (a view, a record of a monitor)
_RECORD = 56 + _ARRAY  # one record of a monitor: a (step, values) tuple and its array
_SAMPLES = 128  # pairs (i, j) at which a probability or a condition of i and j is sampled


# ---- the estimate --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Part:
    """One population, source, connection, spike history or monitor, and what it needs."""

    kind: str  # "population" | "input" | "connection" | "history" | "monitor"
    name: str  # its name in the spec ("spikes of cells" for a monitor)
    bytes: int  # over the whole run (plan.steps)
    detail: str  # what was counted, for people
    per_step: int = 0  # the part of ``bytes`` that each simulated step adds (monitors)
    assumed: bool = False  # the figure rests on an assumption (spike counts), not on the spec alone
    place: tuple = ()  # what in the spec it comes from: ("population", name), ("delay", connection), ...
    count: int = 0  # its neurons (a population, a source, a history), its expected synapses (a connection)


@dataclass(frozen=True)
class Estimate:
    """The memory a run of one network needs, by part (:func:`estimate`)."""

    network: str
    steps: int
    parts: tuple[Part, ...]

    @property
    def total(self) -> int:
        return sum(p.bytes for p in self.parts)

    @property
    def per_step(self) -> int:
        """Bytes each further step adds (what monitors record)."""
        return sum(p.per_step for p in self.parts)

    @property
    def fixed(self) -> int:
        """Bytes that do not depend on the number of steps."""
        return self.total - self.per_step * self.steps

    def largest(self) -> Optional[Part]:
        return max(self.parts, key=lambda p: p.bytes, default=None)

    def with_steps(self, steps: int) -> "Estimate":
        """The same network run for another number of steps (``snnlang run --duration``)."""
        parts = tuple(replace(p, bytes=p.bytes + p.per_step * (steps - self.steps)) for p in self.parts)
        return Estimate(self.network, steps, parts)

    def summary(self, shown: int = 4) -> str:
        """``network 'cuba': about 52 MiB for 10000 steps (monitor spikes of cells 38 MiB; ...)``."""
        ranked = sorted(self.parts, key=lambda p: -p.bytes)
        items = [f"{p.kind} {p.name} {format_bytes(p.bytes)}" for p in ranked[:shown]]
        if len(ranked) > shown:
            items.append(f"{len(ranked) - shown} more")
        return (f"network '{self.network}': about {format_bytes(self.total)} for {self.steps} steps"
                + (f" ({'; '.join(items)})" if items else ""))

    def as_dict(self) -> dict:
        return {"network": self.network, "steps": self.steps, "bytes": self.total, "fixed": self.fixed,
                "per_step": self.per_step,
                "parts": [{"kind": p.kind, "name": p.name, "bytes": p.bytes, "per_step": p.per_step,
                           "count": p.count, "assumed": p.assumed, "detail": p.detail} for p in self.parts]}


def estimate(plan: Plan, steps: Optional[int] = None) -> Estimate:
    """What a run of ``plan`` for ``steps`` (default: the plan's) needs, computed from sizes
    and counts alone: it allocates nothing per neuron or synapse, whatever their numbers."""
    steps = plan.steps if steps is None else int(steps)
    synapses = {c.name: _synapses(c, plan.dt) for c in plan.connections}
    parts: list[Part] = []
    parts += [_population(p) for p in plan.populations]
    parts += [_source(s) for s in plan.sources]
    parts += [_connection(c, synapses[c.name], plan) for c in plan.connections]
    parts += _histories(plan, synapses)
    sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
    parts += [_synapse_monitor(m, synapses[m.population].synapses, steps) if m.kind == "synapses"
              else _monitor(m, sizes[m.population], steps) for m in plan.monitors]
    return Estimate(plan.network, steps, tuple(parts))


# ---- populations and sources -------------------------------------------------------------------

def _population(pop: PopulationPlan) -> Part:
    n = pop.size
    arrays = len(pop.arrays)  # state and per-neuron parameters
    floats = 2 * arrays + len(pop.inputs)  # kept, and the NaN check's copy of each
    ints = 4  # work: the neuron index, spike indices, two temporaries of an update
    what = [f"{arrays} array{'s' if arrays != 1 else ''} and a copy of each"]
    if pop.inputs:
        what.append(f"{len(pop.inputs)} input{'s' if len(pop.inputs) > 1 else ''}")
    if pop.refractory is not None:
        ints += 2  # the last refractory step, and its copy
        what.append("refractory steps")
    if pop.propagator is not None:
        floats += 2 * (len(pop.propagator.variables) + 1)  # two stacked buffers, a row of ones each
        what.append("the stacked state of the exact scheme")
    per_neuron = floats * _F + ints * _I + 2 * _B  # spike and refractory flags
    return Part("population", pop.name, n * per_neuron,
                f"{n} neurons x {per_neuron} B ({', '.join(what)}, work arrays)", place=("population", pop.name),
                count=n)


def _source(src: SourcePlan) -> Part:
    n = src.size
    what = "spike flags and indices"
    total = n * (_B + _I)
    if src.kind == "poisson":
        rows = max(1, min(128, 2**20 // max(n, 1)))  # steps of random numbers drawn at once (the NumPy target)
        total += n * _I + 3 * rows * n * _F
        what = f"the random numbers of {rows} step{'s' if rows > 1 else ''} at a time, {what}"
    elif src.kind == "spike_times":
        total += 4 * len(src.times) * _I
        what = f"{len(src.times)} spike times, {what}"
    else:
        what = f"{src.width} x {src.height} x 2 polarities: {what} (the queue of events fed is not counted)"
    return Part("input", src.name, total, f"{n} neurons: {what}", place=("input", src.name), count=n)


# ---- connections -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Count:
    synapses: int
    how: str  # how it was found, for people
    delay_range: Optional[tuple[int, int]] = None  # per-synapse delays: their smallest and largest value


def _synapses(c: ConnectionPlan, dt: float) -> _Count:
    """The expected number of synapses of a connection (its pattern, probability and condition)."""
    pairs = c.n_pre * c.n_post
    if c.file is not None:
        count, how = len(c.file.pre), f"{len(c.file.pre)} synapses in {c.file.name}"
    elif c.pattern == "one_to_one":
        count, how = min(c.n_pre, c.n_post), "one_to_one"
    elif c.pattern == "indegree":
        count, how = (c.indegree or 0) * c.n_post, f"indegree {c.indegree} x {c.n_post}"
    elif c.pattern == "probability" and c.p is not None:
        p, how = _mean(c.p, c, dt, numeric=True)
        count, how = round(p * pairs), f"p {how} x {c.n_pre} x {c.n_post}"
    else:
        count, how = pairs, f"{c.n_pre} x {c.n_post} pairs"
    if c.condition is not None:
        share, what = _mean(c.condition, c, dt, numeric=False)
        count, how = round(count * share), f"{how}, the condition true for {what}"
    return _Count(count, how, _delay_range(c, dt))


def _mean(expr: sympy.Basic, c: ConnectionPlan, dt: float, numeric: bool) -> tuple[float, str]:
    """The mean of a probability (clipped to [0, 1]) or of a condition over the pairs (i, j);
    one when it cannot be evaluated (then every pair is counted)."""
    expr = expr.xreplace({DT: sympy.Float(dt)})
    free = expr.free_symbols - {symbol("i"), symbol("j")}
    if free:
        return 1.0, f"reads {', '.join(sorted(s.name for s in free))}: every pair counted"
    if not expr.free_symbols:
        value = _value(expr, numeric)
        return (1.0, "not a number: every pair counted") if value is None else (value, f"{value:g}")
    values = []
    for k in range(_SAMPLES):  # an R2 low-discrepancy sequence over the pairs
        i = int(((0.5 + k * 0.7548776662466927) % 1.0) * c.n_pre)
        j = int(((0.5 + k * 0.5698402909980532) % 1.0) * c.n_post)
        value = _value(expr.xreplace({symbol("i"): sympy.Integer(i), symbol("j"): sympy.Integer(j)}), numeric)
        if value is None:
            return 1.0, "not a number at some pair: every pair counted"
        values.append(value)
    mean = sum(values) / len(values)
    return mean, f"{mean:.3g} on average at {_SAMPLES} pairs"


def _value(expr: sympy.Basic, numeric: bool) -> Optional[float]:
    try:
        if not numeric:
            return 1.0 if bool(expr) else 0.0
        return min(1.0, max(0.0, float(expr)))
    except (TypeError, ValueError):
        return None


def _delay_range(c: ConnectionPlan, dt: float) -> Optional[tuple[int, int]]:
    """The smallest and largest delay in steps that a per-synapse delay can draw (None: one delay)."""
    if c.delay_array is None:
        return None
    array = next((a for a in c.arrays if a.name == c.delay_array), None)
    if array is None:
        return None
    try:
        from .fixed_point import expr_range  # bounds at the corners of the draws and of i, j

        expr = array.expr
        low, high = expr_range(expr, {DT: sympy.Float(dt)}, array.draws, {"i": c.n_pre, "j": c.n_post})
    except Exception:  # noqa: BLE001 - an expression it cannot bound: the delay is then unknown
        return None
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    return max(1, int(low)), max(1, int(high))


def _connection(c: ConnectionPlan, count: _Count, plan: Plan) -> Part:
    n = count.synapses
    delivery = plan.schedule.delivery(c.name) if plan.schedule is not None else None
    strategy = delivery.strategy if delivery is not None else c.storage
    # pre and post indices, the synapse index; with one delay the builders' order (by source) is
    # kept as it is, with a delay per synapse they are sorted by delay: copies
    sorted_copies = c.delay_array is not None
    per_synapse = 2 * _I + _I + (2 * _I if sorted_copies else 0)
    what = ["indices"]
    if c.pattern in ("probability", "indegree"):
        per_synapse += 2 * _I  # the rows' parts before they are joined; the uniforms and the order by source
    state = [a for a in c.arrays if a.name != c.delay_array]
    if state:
        copies = 3 if sorted_copies else 2  # kept, the NaN check's copy (and the unsorted one of the build)
        per_synapse += copies * _F * len(state)
        what.append(f"{len(state)} state array{'s' if len(state) > 1 else ''} ({', '.join(a.name for a in state)}) "
                    f"x {copies}")
    draws = sum(len(a.draws) for a in c.arrays)
    if draws:
        per_synapse += _F * draws
        what.append(f"{draws} random draw{'s' if draws > 1 else ''}")
    if c.delay_array is not None:
        per_synapse += 3 * _I  # the delays (as drawn and sorted) and their order
        what.append("delays")
    synapse_traces = [t for t in c.traces if t.size == "n_syn"]
    if synapse_traces:
        per_synapse += 2 * _F * len(synapse_traces)
        what.append("traces per synapse")
    if c.on_post:
        per_synapse += 2 * _I  # the order by target, and the targets in it
        what.append("order by target")
    if delivery is not None and delivery.weighted:
        per_synapse += _F  # what one spike adds, per synapse
        what.append("weights")
    total = n * per_synapse
    extra = []
    neuron_traces = sum(int(t.size) for t in c.traces if t.size != "n_syn")
    if neuron_traces:
        total += 2 * _F * neuron_traces
        extra.append(f"{len(c.traces) - len(synapse_traces)} traces per neuron")
    if strategy == "dense":
        total += _F * c.n_pre * c.n_post
        extra.append(f"a {c.n_pre} x {c.n_post} weight matrix")
    if strategy in ("gathered", "stacked"):
        total += _ARRAY * c.pre_rows  # each source neuron's list of targets: a view each
        extra.append("a list of targets per source neuron")
    groups = 1
    if count.delay_range is not None:
        low, high = count.delay_range
        groups = max(1, min(n, high - low + 1))
    total += _I * groups * (c.pre_rows + 1) + (_I * (c.post_rows + 1) if c.on_post else 0)  # CSR row pointers
    detail = f"{n} synapses ({count.how}) x {per_synapse} B ({', '.join(what)})"
    if extra:
        detail += "; " + ", ".join(extra)
    return Part("connection", c.name, total, detail, place=("connection", c.name), count=n)


def _histories(plan: Plan, synapses: dict[str, _Count]) -> list[Part]:
    """Each source's spike history where a delay makes it longer than one step: as many steps
    as its longest delay x its neurons, a byte each, and the NaN check's copy."""
    if plan.schedule is None:
        return []
    sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
    longest: dict[str, tuple[int, ConnectionPlan]] = {}  # source -> its longest delay, and whose
    for c in plan.connections:
        delays = synapses[c.name].delay_range
        steps = delays[1] if delays else _delay_steps(c, plan.dt)
        if steps is not None and steps > 1 and steps >= longest.get(c.source, (0, None))[0]:
            longest[c.source] = (steps, c)
    parts = []
    for name, (steps, by) in longest.items():
        steps = max(steps, plan.schedule.history[name].steps if name in plan.schedule.history else 1)
        parts.append(Part("history", name, 2 * steps * sizes[name] * _B,
                          f"{steps} steps (the delay of {by.name}, {steps * plan.dt:g} s at dt = {plan.dt:g} s) "
                          f"x {sizes[name]} neurons x 2 B (kept and copied)", place=("delay", by.name),
                          count=sizes[name]))
    return parts


def _delay_steps(c: ConnectionPlan, dt: float) -> Optional[int]:
    if c.delay is None:
        return None
    try:
        return max(1, int(c.delay.xreplace({DT: sympy.Float(dt)})))
    except (TypeError, ValueError):
        return None


# ---- monitors -------------------------------------------------------------------------------------

def _monitor(m: MonitorPlan, size: int, steps: int) -> Part:
    place = ("monitor", m.kind, m.population)
    if m.kind == "spikes":
        # a record holds the spikes of the whole population; their number is known only once run
        return Part("monitor", f"spikes of {m.population}", size * steps * _B,
                    f"{size} neurons x {steps} steps x 1 B (assumed: one spike in 8 steps of each neuron, "
                    "8 B a spike; the true figure is the spikes recorded x 8 B)",
                    per_step=size * _B, assumed=True, place=place, count=size)
    neurons = _monitored(m)
    variables = max(1, len(m.variables))
    every = max(1, m.every)
    samples = -(-steps // every)
    # kept as recorded, stacked once more when written, and one variable's copy as it is saved
    per_sample = (2 * variables + 1) * neurons * _F + _RECORD
    return Part("monitor", f"{', '.join(m.variables)} of {m.population}", samples * per_sample,
                f"{samples} samples (every {every} step{'s' if every > 1 else ''}) x {neurons} neurons x "
                f"{variables} variable{'s' if variables > 1 else ''} x 16 B (recorded, then stacked) + 8 B "
                "(saving one)", per_step=per_sample // every, place=place, count=neurons)


def _synapse_monitor(m: MonitorPlan, expected: int, steps: int) -> Part:
    """A synapse monitor (``monitor w of exc_exc every 100 ms``): samples x its selected synapses
    (of the connection's expected number) x variables, as a state monitor keeps them, and three
    indices per synapse (its index, pre and post neuron)."""
    chosen = sum(len(range(a, min(expected, expected if b is None else b), t)) for a, b, t in m.selections)
    variables = max(1, len(m.variables))
    every = max(1, m.every)
    samples = -(-steps // every)
    per_sample = (2 * variables + 1) * chosen * _F + _RECORD
    return Part("monitor", f"{', '.join(m.variables)} of {m.population}", samples * per_sample + 3 * chosen * _I,
                f"{samples} samples (every {every} step{'s' if every > 1 else ''}) x {chosen} synapses x "
                f"{variables} variable{'s' if variables > 1 else ''} x 16 B (recorded, then stacked) + 8 B "
                "(saving one)", per_step=per_sample // every, place=("monitor", m.kind, m.population), count=chosen)


def _monitored(m: MonitorPlan) -> int:
    """How many neurons a monitor records, counted without listing them."""
    spans = m.selections or [(m.start, m.stop, m.step)]
    counts = [len(range(*span)) for span in spans]
    if len(spans) == 1 or sum(counts) > 10**6:  # many: their sum bounds the union
        return sum(counts)
    return len({k for span in spans for k in range(*span)})


# ---- refusing -----------------------------------------------------------------------------------------

def refusal(found: Estimate, limit: Optional[int] = None) -> Optional[str]:
    """Why a run of this estimate is refused (over the limit), or None."""
    limit, source = (limit, "the limit given") if limit is not None else memory_limit()
    if found.total <= limit:
        return None
    largest = _blamed(found, limit)
    text = (f"network '{found.network}' needs about {format_bytes(found.total)} of memory, more than the limit of "
            f"{format_bytes(limit)} ({source})")
    if largest is not None:
        text += f"; {largest.kind} {largest.name} alone needs {format_bytes(largest.bytes)}: {largest.detail}"
    suggest = 2 ** math.ceil(math.log2(max(found.total, 1) / GiB)) if found.total > GiB else 1
    suggest = f"{suggest // 1024}TiB" if suggest >= 1024 else f"{suggest}GiB"
    return text + f". Make it smaller, or allow more with --max-memory {suggest}"


def _blamed(found: Estimate, limit: int) -> Optional[Part]:
    """The part a refusal names: the largest whose figure rests on the spec alone when those
    are over the limit by themselves (not a spike monitor's assumed count), else the largest."""
    certain = [p for p in found.parts if not p.assumed]
    if sum(p.bytes for p in certain) > limit:
        return max(certain, key=lambda p: p.bytes)
    return found.largest()


def enforce(plan: Plan, net: "Network", diags: "Diagnostics", steps: Optional[int] = None,
            limit: Optional[int] = None) -> Estimate:
    """The estimate of ``plan``; a located SpecError, at the part that needs the most (a
    population, connection, delay, input or monitor of ``net``), when it is over the limit."""
    from ..frontend.diagnostics import SpecError

    found = estimate(plan, steps)
    problem = refusal(found, limit)
    if problem is None:
        return found
    diags.error(place(_blamed(found, limit if limit is not None else memory_limit()[0]), net), problem)
    raise SpecError(diags)


def place(part: Optional[Part], net: "Network") -> "Loc":
    """Where in the spec a part comes from (the network's name when nothing closer is known)."""
    if part is None or not part.place:
        return net.loc
    kind, *key = part.place
    if kind == "population":
        return next((p.loc for p in net.populations if p.name == key[0]), net.loc)
    if kind == "input":
        return next((i.loc for i in net.inputs if i.name == key[0]), net.loc)
    if kind in ("connection", "delay"):
        for c in net.connections:
            if c.name == key[0]:
                return c.delay.loc if kind == "delay" and c.delay is not None else c.loc
        return net.loc
    if kind == "monitor":
        return next((m.loc for m in net.monitors if (m.kind, m.population) == tuple(key)), net.loc)
    return net.loc
