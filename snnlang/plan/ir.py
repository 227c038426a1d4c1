"""The Plan: what every target executes, decided once.

Plain data. Expressions are SymPy over *qualified* names (``exc_v``,
``exc_exc_w``), so a backend prints them as they are. Indexed names in event
code (a synapse variable read for the active synapses) are listed in
``ConnectionPlan.indexed``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import sympy

from ..frontend.model import Loc
from .symbols import SymbolTable

if TYPE_CHECKING:
    import numpy as np

    from .fixed_point import FixedPoint
    from .schedule import Schedule

@dataclass
class Draw:
    """A random number per element: ``uniform`` in [0, 1) or standard ``normal``."""

    name: str
    kind: str  # "uniform" | "normal"
    stream: int


@dataclass
class Assign:
    target: str
    expr: sympy.Basic
    where: Optional[str] = None  # only where this boolean array is true; elsewhere unchanged


@dataclass
class ArrayInit:
    """An array filled at reset: per neuron, per synapse."""

    name: str
    size: str  # a size expression of the generated code: "N", "n_syn"
    expr: sympy.Basic
    draws: list[Draw] = field(default_factory=list)
    dtype: str = "float"


@dataclass
class Param:
    key: str  # "exc.tau_m", as users set it
    name: str  # qualified name in generated code
    value: Optional[float]  # SI default; None when given per element (an ArrayInit)
    unit: str
    #: computed from network constants: a Python expression of ``p["key"]`` (the package's
    #: parameters), recomputed when one of ``uses`` is set; None: a value of its own
    derived: Optional[str] = None
    uses: list[str] = field(default_factory=list)


@dataclass
class ConstantPlan:
    """A network constant (``J = 0.1 mV`` in the network block) as the package holds it: the
    parameter ``key`` (``brunel.J``), and either why it is fixed when the package is built
    (a structural use: a size, a probability, a delay) or, at run time, the parameters of
    each part that uses it (``exc_exc.J``), kept equal to it."""

    name: str
    key: str
    value: float  # SI
    unit: str
    fixed: Optional[str] = None  # why it cannot change without a rebuild
    derived: Optional[str] = None  # K = 2 * J: K's key as an expression of J's (as Param.derived)
    uses: list[str] = field(default_factory=list)


@dataclass
class FileEdges:
    """The synapses of a connection read from a file at build (``from_file``): indices in the
    connection's source and target slices, in the file's order; weights and delays if given."""

    name: str  # as written in the spec
    pre: "np.ndarray"
    post: "np.ndarray"
    w: Optional["np.ndarray"] = None  # SI, into the synapse's state variable w
    delay: Optional["np.ndarray"] = None  # in steps (at least 1)
    sha256: str = ""


@dataclass
class Propagator:
    """The exact scheme of a population as one matrix product, for targets that keep the
    integrated variables stacked in one array (rows ``variables``, then a row of ones)::

        [x_1 ... x_S] <- P @ [x_1 ... x_S, 1]    then each x_k += inputs[x_k]

    The same update as the population's ``integrate`` statements, which targets that
    update element by element use instead.
    """

    variables: list[str]  # qualified names: the rows
    matrix: list[list[sympy.Basic]]  # S x (S + 1): symbols of the scheme's constants, or 0
    inputs: dict[str, sympy.Basic]  # variable -> what inputs add to its new value (absent: nothing)


@dataclass
class PopulationPlan:
    name: str
    neuron: str
    size: int
    params: list[Param]
    arrays: list[ArrayInit]  # state and per-neuron parameters, at reset
    state: list[str]  # qualified names of state variables (saved, monitored)
    inputs: list[ArrayInit]  # evaluated every step (external value)
    input_draws: list[Draw]
    constants: list[Assign]  # once a run, from parameters and dt
    integrate: list[Assign]  # every step
    method: str
    method_reason: str
    threshold: Optional[sympy.Basic]
    reset: list[Assign]
    refractory: Optional[sympy.Basic]  # refractory period in steps (expression of params, dt)
    gated: list[str]  # variables held while refractory
    finite_check: list[str]  # variables checked for NaN / overflow
    local: dict[str, str]  # spec name -> qualified name
    # The exact scheme as a matrix, where it updates two or more variables (else None).
    propagator: Optional[Propagator] = None
    # The refractory period is one number for the whole population (from scalar parameters).
    refractory_uniform: bool = False
    #: how the spec counts the period: "nest" (refractory = round(t_ref/dt)) or "brian2"
    #: (refractory = max(0, floor(t_ref/dt + 0.001) - 1)); ``refractory`` is the count either way
    refractory_convention: str = "nest"
    loc: Optional[Loc] = None  # where the spec declares it (for the targets' located refusals)


@dataclass
class SourcePlan:
    name: str
    kind: str  # poisson | spike_times | events
    size: int
    rate: Optional[sympy.Basic] = None  # poisson, in Hz (may use i)
    stream: int = 0
    times: list[float] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    width: int = 0
    height: int = 0
    rate_key: Optional[str] = None  # poisson: Network.set_input(rate_key, rates in Hz) replaces the rate
    loc: Optional[Loc] = None  # where the spec declares it (for the targets' located refusals)
    #: poisson with counts = true: a Poisson number of spikes per neuron and step (rt.poisson), each
    #: delivered (on_pre runs count times); else at most one, with probability rate x dt
    counts: bool = False
    #: spike_times from a file (times, indices as NumPy arrays): the file it was read from
    file: Optional[str] = None


@dataclass
class DrivePlan:
    """``poisson_drive(target = pop.var, N, rate, weight)``: every step, each neuron of ``population``
    gets ``weight`` times a Poisson count of mean ``N * rate * dt`` added to ``variable`` (the
    events of N independent Poisson trains in one step), drawn from stream ``stream`` with
    counter the step and index the neuron. No source neurons, no synapses."""

    name: str
    population: str
    variable: str  # qualified name of the target variable
    n: int
    rate: float  # Hz, of each of the N inputs
    weight: float  # SI, in the unit of the variable
    stream: int
    loc: Optional[Loc] = None


@dataclass
class EventStatement:
    side: str  # "synapse": per active synapse; "pre"/"post": per spiking neuron; "target": scatter to neurons
    target: str  # qualified name
    index: str  # "syn", "pre", "post"
    op: str
    expr: sympy.Basic


@dataclass
class ConnectionPlan:
    name: str
    source: str
    target: str
    n_pre: int  # size of the source slice (i runs over it)
    n_post: int  # size of the target slice (j runs over it)
    synapse: str
    pattern: str  # all_to_all | one_to_one | probability | indegree
    p: Optional[sympy.Basic]  # probability (may use i, j)
    indegree: Optional[int]
    condition: Optional[sympy.Basic]  # on i, j
    connect_stream: int
    storage: str  # "dense" or "csr"
    params: list[Param]
    arrays: list[ArrayInit]  # per-synapse state, per-synapse delays
    state: list[str]
    traces: list[ArrayInit]  # per-neuron pre/post traces (reset)
    trace_side: dict[str, str]  # trace name -> "pre" | "post"
    trace_constants: list[Assign]
    trace_decay: list[Assign]  # every step, before delivery
    syn_constants: list[Assign]
    syn_integrate: list[Assign]
    delay: Optional[sympy.Basic]  # homogeneous delay in steps, or None when per synapse
    delay_array: Optional[str]  # name of the per-synapse delay array
    max_delay: int  # steps, for the spike history
    linear: Optional[tuple[str, sympy.Basic]]  # fast path: (target array, weight per synapse)
    on_pre: list[EventStatement]
    on_post: list[EventStatement]
    indexed: dict[str, str]  # qualified name -> index it is read with in event code
    local: dict[str, str]
    pre_offset: int = 0  # first neuron of the source slice
    post_offset: int = 0
    pre_rows: int = 0  # size of the whole source population (synapses are stored by its neurons)
    post_rows: int = 0
    # Synapse inputs (``inputs { reward = 0 }``): one value per step for the whole connection,
    # the override expression or what Network.set_input("<connection>.<name>", ...) gives.
    inputs: list[ArrayInit] = field(default_factory=list)  # size "1": a scalar
    input_draws: list[Draw] = field(default_factory=list)
    # Pre traces kept per synapse, not per presynaptic neuron: with per-synapse delays each
    # synapse sees its own delayed copy of the presynaptic spike train.
    per_synapse_traces: list[str] = field(default_factory=list)
    loc: Optional[Loc] = None  # where the spec declares it (for the targets' located refusals)
    #: pattern "file": the synapses, read at build; the arrays w and delay (when the file has
    #: them) are filled from the names file_arrays gives (connection state name -> its array)
    file: Optional[FileEdges] = None
    file_arrays: dict[str, str] = field(default_factory=dict)
    #: on_pre reads refractory_pre / refractory_post: the population's refractory mask (the name
    #: the targets give ``(population, "refractory")``, read as a number > 0 where refractory) ->
    #: the population. True where the neuron is refractory in the step the spike arrives (its
    #: gated variables are held in this step's integration), so a target refreshes it first.
    refractory_reads: dict[str, str] = field(default_factory=dict)


@dataclass
class MonitorPlan:
    """What a monitor records: the spikes, or the values of ``variables`` every ``every`` steps,
    of the neurons ``neurons()`` of one population or source.

    The monitor statements of one population (the spike monitors; the state monitors of one set
    of variables and one period) are one monitor, and every selection they name is in
    ``selections``: ``monitor v of cells[24], cells[26], cells[40]`` records neurons 24, 26, 40.
    ``start``, ``stop``, ``step`` give the neurons as one slice where they form one
    (``as_slice()``); otherwise they are the first selection only.

    A synapse monitor (kind ``synapses``, ``monitor w of exc_exc[0:100] every 10 ms``) records
    per-synapse state variables of the connection ``population`` names: ``qualified`` are the
    connection's arrays, ``selections`` synapse indices in the package's storage order, with
    stop None for "to the last synapse" (their number is known once the connectivity is
    drawn: a selection stops at the last synapse); ``neurons()`` and ``as_slice()`` do not apply.
    """

    kind: str  # spikes | state | synapses
    population: str
    variables: list[str]  # spec names
    qualified: list[str]
    start: int
    stop: int
    step: int
    every: int  # in steps
    #: every selection, (start, stop, step) with stop within the population
    selections: list[tuple[int, int, int]] = field(default_factory=list)
    #: what each variable records, an expression of the population's qualified names: a state or
    #: input variable or a parameter (a symbol), or a definition (its expression)
    values: list[sympy.Basic] = field(default_factory=list)
    loc: Optional[Loc] = None  # the first monitor statement (for the targets' located refusals)

    def neurons(self) -> list[int]:
        """The neurons recorded, in increasing order: the union of the selections."""
        spans = self.selections or [(self.start, self.stop, self.step)]
        if len(spans) == 1:
            return list(range(*spans[0]))
        return sorted({k for span in spans for k in range(*span)})

    def as_slice(self) -> Optional[tuple[int, int, int]]:
        """The neurons as one slice (start, stop, step), or None when they form none."""
        spans = self.selections or [(self.start, self.stop, self.step)]
        if len(spans) == 1:
            return spans[0]
        found = self.neurons()
        if len(found) == 1:
            return found[0], found[0] + 1, 1
        step = found[1] - found[0]
        if found == list(range(found[0], found[-1] + 1, step)):
            return found[0], found[-1] + 1, step
        return None


@dataclass
class Plan:
    network: str
    spec: str
    spec_hash: str
    version: str
    dt: float
    steps: int
    seed: int
    populations: list[PopulationPlan]
    sources: list[SourcePlan]
    connections: list[ConnectionPlan]
    monitors: list[MonitorPlan]
    discrete: bool = False
    notes: list[str] = field(default_factory=list)
    #: every name of generated code (spec names qualified, the targets' own names): see symbols.py
    symbols: SymbolTable = field(default_factory=SymbolTable)
    #: one step as ordered phases of operations, every target's order (schedule.py)
    schedule: Optional["Schedule"] = None
    #: parameter key -> what it is the time constant of: a run refuses a value <= 0 (validate.py)
    time_constants: dict[str, str] = field(default_factory=dict)
    #: the arithmetic every target prints: "float64", or "loihi" (Loihi's fixed point, fixed_point.py)
    precision: str = "float64"
    #: with precision = loihi: the registers of every population and connection (else None)
    fixed_point: Optional["FixedPoint"] = None
    #: the threshold register chosen by the spec (simulate's loihi_vth); None: chosen by fixed_point.py
    loihi_vth: Optional[int] = None
    #: poisson_drive inputs: Poisson counts added to a variable of a population every step (schedule: Drive)
    drives: list[DrivePlan] = field(default_factory=list)
    #: the network's constants (``J = 0.1 mV`` in its block), in the spec's order
    constants: list[ConstantPlan] = field(default_factory=list)

    def derived_params(self) -> list[tuple[str, str, list[str]]]:
        """(key, Python expression of p, keys it uses) of every parameter computed from network
        constants, each after those it uses (the order in which a package recomputes them)."""
        found = [(k.key, k.derived, k.uses) for k in self.constants if k.derived]
        for owner in self.populations + self.connections:
            found += [(prm.key, prm.derived, prm.uses) for prm in owner.params if prm.derived]
        return found
