"""The schedule: one time step as ordered phases of typed operations, decided once for every target.

The plan's statements say *what* each population and connection computes; the schedule says
in which order, and how each connection delivers its spikes. A backend walks the phases in
order and prints each operation (it may fuse neighbours into one kernel, but never reorders
phases, picks another delivery strategy or invents a name). docs/semantics.md describes
the same order in prose; docs/architecture.md how a backend walks it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterator, Optional, Union

import sympy

from .integrate import DT
from .ir import ConnectionPlan, MonitorPlan, PopulationPlan, SourcePlan


# ---- operations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalInputs:
    """The input variables of a population take their value for this step."""

    population: str


@dataclass(frozen=True)
class EvalSynapseInputs:
    """The inputs of a connection (one value each for the whole connection) for this step."""

    connection: str


@dataclass(frozen=True)
class DecayTraces:
    """Traces that are stepped (not decayed on read) advance to this step."""

    connection: str


#: How a connection's spikes reach their targets.
#: ``dense``: a pre x post weight matrix, the rows of the spiking neurons summed;
#: ``gathered``: each neuron's list of targets (one constant weight, one step of delay);
#: ``stacked``: like gathered, for a group of connections from one source into the stacked
#: state of one population, delivered with one scatter (``Deliver.group``);
#: ``csr``: the synapses of the spiking neurons as compressed rows, grouped by delay;
#: ``all_pairs``: every (pre, post) pair of two whole populations, synapse k * n_post + m.
STRATEGIES = ("dense", "gathered", "stacked", "csr", "all_pairs")


@dataclass(frozen=True)
class Deliver:
    """Spikes whose delay ends now arrive: the connection's on_pre effects."""

    connection: str
    strategy: str  # one of STRATEGIES
    delay: Optional[int]  # one delay for every synapse, in steps; None: per synapse (grouped by delay)
    weighted: bool  # the linear effect reads a weight per synapse (a synapse state variable)
    group: tuple[str, ...] = ()  # stacked: every connection of the group, this one first

    @property
    def last_step(self) -> bool:
        """Delivered from last step's spikes (one step of delay): no spike history is read."""
        return self.delay == 1


@dataclass(frozen=True)
class Drive:
    """A poisson_drive adds weight x a Poisson count (mean N x rate x dt) to its target variable,
    for every neuron of the target population (plan.drives; no source neurons, no synapses).
    It acts with the deliveries: an input variable gets it for this step only, a state variable
    keeps it (held like a synaptic kick while the neuron is refractory)."""

    drive: str  # DrivePlan.name
    population: str


@dataclass(frozen=True)
class Refractory:
    """Which neurons are refractory this step: those whose period has not ended."""

    population: str
    uniform: bool  # one period for the population (a ring of released neurons); else per neuron


@dataclass(frozen=True)
class Integrate:
    """Continuous state advances by dt (refractory-gated variables held)."""

    population: str
    matrix: bool  # the exact scheme as one matrix product on the stacked state (plan.propagator)


@dataclass(frozen=True)
class IntegrateSynapses:
    """Per-synapse state with equations advances by dt."""

    connection: str


@dataclass(frozen=True)
class CheckFinite:
    """The state of every population is finite (only while a chunk is re-run to find a blow-up)."""

    variables: tuple[tuple[str, str], ...]  # (population, generated name)


@dataclass(frozen=True)
class Threshold:
    """Spike condition, reset of the neurons that spiked, start of their refractory period."""

    population: str


@dataclass(frozen=True)
class Emit:
    """A source (poisson, spike times, events) emits this step's spikes."""

    source: str


@dataclass(frozen=True)
class PostEvents:
    """The on_post effects of this step's postsynaptic spikes."""

    connection: str
    all_pairs: bool  # every pair of two whole populations: synapses found arithmetically


@dataclass(frozen=True)
class KeepHistory:
    """This step's spikes of a source enter its history (read by delayed deliveries)."""

    source: str


@dataclass(frozen=True)
class RecordSpikes:
    monitor: int  # index into plan.monitors
    population: str


@dataclass(frozen=True)
class RecordState:
    monitor: int
    population: str
    every: int  # steps between samples


@dataclass(frozen=True)
class RecordSynapses:
    """A synapse monitor samples per-synapse state of a connection (its selected synapses)."""

    monitor: int  # index into plan.monitors
    connection: str
    every: int  # steps between samples


@dataclass(frozen=True)
class Exchange:
    """One network over several processes (MPI): the spikes of the partitioned populations and
    sources reach every process, as global indices, once every ``every`` steps (the network's
    shortest delay in steps: a spike emitted at step s is read at s + delay at the earliest).
    Each process sends the spikes of the last ``every`` steps of the neurons it holds, in one
    gather of all processes' spikes (MPI Allgatherv), and writes them into each source's history.
    Only a partitioned run has this phase (``Schedule.partitioned_phases``)."""

    sources: tuple[str, ...]  # populations and poisson sources with outgoing connections
    every: Optional[int]  # steps between exchanges: the shortest delay of the connections with one delay (None: none has one)
    delay_arrays: tuple[str, ...] = ()  # per-synapse delays: the period is at most their smallest value, once drawn


Op = Union[EvalInputs, EvalSynapseInputs, DecayTraces, Deliver, Refractory, Integrate, IntegrateSynapses,
           CheckFinite, Threshold, Emit, PostEvents, KeepHistory, RecordSpikes, RecordState, RecordSynapses, Exchange, Drive]

#: How the neurons of a population (or poisson source) are split over processes:
#: ``blocks``: contiguous blocks (process r holds neurons size * r // R ... size * (r + 1) // R - 1);
#: ``round_robin``: neuron k on process k % R (balances connections onto a slice of the population).
PARTITIONS = ("blocks", "round_robin")


@dataclass(frozen=True)
class Phase:
    name: str
    doc: str  # one line, printed as the phase's comment
    ops: tuple[Op, ...]


@dataclass(frozen=True)
class History:
    """How many past steps of a source's spikes are kept: the longest delay of its connections."""

    steps: int  # from the connections with one delay (at least 1)
    delay_arrays: tuple[str, ...] = ()  # per-synapse delays: their largest value, known once drawn
    every_step: bool = False  # a delayed delivery reads it: each step's spikes are kept (else only the last)


@dataclass(frozen=True)
class Schedule:
    phases: tuple[Phase, ...]
    history: dict[str, History] = field(default_factory=dict)  # population or source -> its spike history
    #: one network over several processes: how each population and poisson source is split
    #: (one of PARTITIONS; spike-time and event inputs are computed whole on every process) ...
    partition: dict[str, str] = field(default_factory=dict)
    #: ... and the exchange of spikes between the processes, the last phase of a partitioned step
    exchange: Optional[Exchange] = None

    def partitioned_phases(self) -> tuple[Phase, ...]:
        """The phases of a step of a network split over processes: the exchange comes last.
        (The single-process phases have no exchange; the targets that do not partition never see it.)"""
        if self.exchange is None or not self.exchange.sources:
            return self.phases
        return self.phases + (Phase("exchange", "spikes reach every process, every min-delay steps",
                                    (self.exchange,)),)

    def ops(self, kind: type | None = None) -> Iterator[Op]:
        """Every operation in order (of one kind)."""
        for phase in self.phases:
            for op in phase.ops:
                if kind is None or isinstance(op, kind):
                    yield op

    def delivery(self, connection: str) -> Optional[Deliver]:
        return self._deliveries.get(connection)

    @cached_property
    def _deliveries(self) -> dict[str, Deliver]:
        """The (first) delivery of each connection: a search per connection was quadratic."""
        found: dict[str, Deliver] = {}
        for op in self.ops(Deliver):
            found.setdefault(op.connection, op)
        return found


# ---- the decisions ---------------------------------------------------------------------------

def _delay_steps(c: ConnectionPlan, dt: float) -> Optional[int]:
    if c.delay_array is not None:
        return None
    return max(1, int(c.delay.xreplace({DT: sympy.Float(dt)})))


def _weighted(c: ConnectionPlan) -> bool:
    return c.linear is not None and bool({s.name for s in c.linear[1].free_symbols} & set(c.state))


def _all_pairs(c: ConnectionPlan) -> bool:
    """Every (pre, post) pair of two whole populations, one delay: synapse k * n_post + m joins k to m."""
    return (c.pattern == "all_to_all" and c.condition is None and c.delay_array is None
            and (c.pre_offset, c.n_pre, c.post_offset, c.n_post) == (0, c.pre_rows, 0, c.post_rows))


def _strategy(c: ConnectionPlan, delay: Optional[int]) -> str:
    if c.linear is not None and c.storage == "dense" and _weighted(c) and delay is not None:
        return "dense"
    if c.linear is not None and not _weighted(c) and delay == 1:
        return "gathered"
    if (c.linear is None or _weighted(c)) and _all_pairs(c):
        return "all_pairs"
    return "csr"


def _stacked_groups(conns: list[ConnectionPlan], strategy: dict[str, str],
                    pops: dict[str, PopulationPlan]) -> dict[str, tuple[str, ...]]:
    """Gathered connections from one source into the stacked state of one population, delivered
    with one scatter (e.g. the excitatory and inhibitory slices of one group); each stacked
    variable gets one weight, or they stay apart."""
    groups: dict[tuple[str, str], list[ConnectionPlan]] = {}
    for c in conns:
        target = pops.get(c.target)
        if strategy[c.name] == "gathered" and target is not None and target.propagator is not None \
                and c.linear[0] in target.propagator.variables:
            groups.setdefault((c.source, c.target), []).append(c)
    stacked = {}
    for group in groups.values():
        weights: dict[str, sympy.Basic] = {}
        if len(group) > 1 and all(weights.setdefault(c.linear[0], c.linear[1]) == c.linear[1] for c in group):
            for c in group:
                stacked[c.name] = tuple(g.name for g in group)
    return stacked


def make_schedule(pops: list[PopulationPlan], sources: list[SourcePlan], conns: list[ConnectionPlan],
                  monitors: list[MonitorPlan], dt: float, drives: tuple = ()) -> Schedule:
    by_name = {p.name: p for p in pops}
    delays = {c.name: _delay_steps(c, dt) for c in conns}
    strategy = {c.name: _strategy(c, delays[c.name]) for c in conns}
    stacked = _stacked_groups(conns, strategy, by_name)

    deliver: list[Op] = []
    for c in conns:
        if c.trace_decay:
            deliver.append(DecayTraces(c.name))
        group = stacked.get(c.name, ())
        if c.on_pre and (not group or group[0] == c.name):  # a group is delivered with its first connection
            deliver.append(Deliver(c.name, "stacked" if group else strategy[c.name], delays[c.name],
                                   _weighted(c), group))

    integrate = []
    for p in pops:
        if p.refractory is not None:
            integrate.append(Refractory(p.name, p.refractory_uniform))
        integrate.append(Integrate(p.name, p.propagator is not None))
        integrate += [IntegrateSynapses(c.name) for c in conns if c.target == p.name and c.syn_integrate]
    finite = tuple((p.name, v) for p in pops for v in p.finite_check)
    if finite:
        integrate.append(CheckFinite(finite))

    sizes = [p.name for p in pops] + [s.name for s in sources]
    history = {}
    for name in sizes:
        outgoing = [c for c in conns if c.source == name]
        steps = max([delays[c.name] for c in outgoing if delays[c.name] is not None] + [1])
        arrays = tuple(c.delay_array for c in outgoing if c.delay_array is not None)
        delayed = any(delays[c.name] != 1 for c in outgoing)
        history[name] = History(steps, arrays, delayed)

    record: list[Op] = [KeepHistory(name) for name in sizes if history[name].every_step]
    for k, m in enumerate(monitors):
        if m.kind == "synapses":
            record.append(RecordSynapses(k, m.population, m.every))
        else:
            record.append(RecordSpikes(k, m.population) if m.kind == "spikes" else RecordState(k, m.population, m.every))

    phases = (
        Phase("inputs", "inputs take their value for this step",
              tuple([EvalInputs(p.name) for p in pops if p.inputs]
                    + [EvalSynapseInputs(c.name) for c in conns if c.inputs])),
        Phase("deliver", "traces decay to this step; spikes whose delay ends now arrive", tuple(deliver)
              + tuple(Drive(d.name, d.population) for d in drives)),  # poisson_drive: counts added with them
        Phase("integrate", "continuous state advances by dt (refractory-gated variables held)", tuple(integrate)),
        Phase("spikes", "spikes, resets, refractoriness; inputs emit",
              tuple([Threshold(p.name) for p in pops] + [Emit(s.name) for s in sources])),
        Phase("on_post", "effects of this step's postsynaptic spikes",
              tuple(PostEvents(c.name, _all_pairs(c)) for c in conns if c.on_post)),
        Phase("record", "monitors record this step", tuple(record)),
    )
    return Schedule(phases, history, _partition(pops, sources, conns), _exchange(pops, sources, conns, delays))


def _partition(pops: list[PopulationPlan], sources: list[SourcePlan], conns: list[ConnectionPlan]) -> dict[str, str]:
    """Contiguous blocks, except for a population that a connection targets in part (a slice):
    round robin, so that every process holds about as many of its synapses."""
    split = {}
    for p in pops:
        sliced = any(c.target == p.name and (c.post_offset, c.n_post) != (0, c.post_rows) for c in conns)
        split[p.name] = "round_robin" if sliced else "blocks"
    for s in sources:
        if s.kind == "poisson":
            split[s.name] = "blocks"
    return split


def _exchange(pops: list[PopulationPlan], sources: list[SourcePlan], conns: list[ConnectionPlan],
              delays: dict[str, Optional[int]]) -> Exchange:
    split = {p.name for p in pops} | {s.name for s in sources if s.kind == "poisson"}
    sending = tuple(name for name in [p.name for p in pops] + [s.name for s in sources]
                    if name in split and any(c.source == name for c in conns))
    fixed = [d for d in delays.values() if d is not None]
    arrays = tuple(c.delay_array for c in conns if c.delay_array is not None)
    # the shortest delay; None: only per-synapse delays, whose smallest value is known once drawn
    every = min(fixed) if fixed else (None if arrays else 1)
    return Exchange(sending, every, arrays)
