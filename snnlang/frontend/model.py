"""The validated model (IR): plain, immutable pydantic data.

Expressions are SymPy objects built by :mod:`snnlang.lower` from the syntax
tree. Quantities are in SI: a unit is a product of the seven base-unit
symbols of :mod:`snnlang.units` (``20 ms`` is ``s/50``). The JSON form of an
expression is SymPy's string form; ``snnlang check --emit-ir`` prints it and
``snnlang schema`` prints the JSON schema.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

import sympy
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema


def _validate_expr(value: Any) -> sympy.Basic:
    if not isinstance(value, sympy.Basic):
        raise TypeError(f"expected a SymPy expression, got {type(value).__name__}")
    return value


SymExpr = Annotated[
    sympy.Basic,
    PlainValidator(_validate_expr),
    PlainSerializer(lambda e: str(e), return_type=str),
    WithJsonSchema({"type": "string", "description": "SymPy expression in SI base units"}),
]


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class Loc(Node):
    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Expr(Node):
    """An expression with its place, and the place of each name it uses."""

    value: SymExpr
    loc: Loc
    names: dict[str, Loc] = Field(default_factory=dict, exclude=True)
    #: the network constants this expression names (only an expression written in a network
    #: block sees them: a model's own text never does)
    constants: frozenset[str] = Field(default_factory=frozenset, exclude=True)


class Variable(Node):
    """A declared name. ``value`` is the default (parameters), the initial value
    (state, inputs, traces) or the definition (aliases)."""

    name: str
    kind: Literal["parameter", "state", "input", "alias", "pre", "post"]
    value: Expr
    loc: Loc


class ODE(Node):
    var: str
    rhs: Expr
    unless_refractory: bool = False
    loc: Loc


class Statement(Node):
    target: str
    op: Literal["=", "+=", "-=", "*=", "/="]
    value: Expr
    loc: Loc


class NeuronModel(Node):
    name: str
    loc: Loc
    parameters: tuple[Variable, ...] = ()
    state: tuple[Variable, ...] = ()
    inputs: tuple[Variable, ...] = ()
    aliases: tuple[Variable, ...] = ()
    odes: tuple[ODE, ...] = ()
    update: tuple[Statement, ...] = ()
    threshold: Optional[Expr] = None
    reset: tuple[Statement, ...] = ()
    refractory: Optional[Expr] = None
    refractory_in_steps: bool = False
    #: how the period is counted: "nest" (held R = round(t_ref/dt) steps after the spike step) or
    #: "brian2" (``refractory t_ref as brian2``: held floor(t_ref/dt + 0.001) - 1 steps, as Brian2)
    refractory_convention: str = "nest"
    method: Optional[str] = None
    method_loc: Optional[Loc] = None

    @property
    def discrete(self) -> bool:
        return bool(self.update) and not self.odes

    def variables(self) -> tuple[Variable, ...]:
        return self.parameters + self.state + self.inputs + self.aliases


class SynapseModel(Node):
    """Per-synapse state and equations, per-neuron traces (``pre``/``post``), inputs
    (one value per connection and step, set like a neuron's inputs), events."""

    name: str
    loc: Loc
    parameters: tuple[Variable, ...] = ()
    state: tuple[Variable, ...] = ()
    aliases: tuple[Variable, ...] = ()
    odes: tuple[ODE, ...] = ()
    pre: tuple[Variable, ...] = ()
    pre_odes: tuple[ODE, ...] = ()
    post: tuple[Variable, ...] = ()
    post_odes: tuple[ODE, ...] = ()
    inputs: tuple[Variable, ...] = ()  # one value per connection and step (a neuromodulator, a reward)
    on_pre: tuple[Statement, ...] = ()
    on_post: tuple[Statement, ...] = ()
    method: Optional[str] = None
    method_loc: Optional[Loc] = None

    def variables(self) -> tuple[Variable, ...]:
        return self.parameters + self.state + self.aliases + self.pre + self.post + self.inputs


class Assignment(Node):
    """``name = value`` in a network: an override or a setting."""

    name: str
    value: Expr
    loc: Loc


class Population(Node):
    name: str
    neuron: str
    size: int
    overrides: tuple[Assignment, ...] = ()
    loc: Loc
    neuron_loc: Loc


class Call(Node):
    """A structured value: ``poisson(200, rate = 10 Hz)``, ``adam(lr = 1e-3)``."""

    name: str
    args: tuple["Value", ...] = ()
    kwargs: dict[str, "Value"] = Field(default_factory=dict)
    loc: Loc


class Number(Node):
    value: float
    dim: tuple[int, int, int, int, int, int, int]
    is_int: bool = False
    loc: Loc


class Word(Node):
    """A bare name used as a value: ``method = bptt``, ``network = mlp``."""

    value: str
    loc: Loc


class Text(Node):
    value: str
    loc: Loc


class ListValue(Node):
    items: tuple["Value", ...]
    loc: Loc


Value = Union[Number, Word, Text, Call, ListValue]
Call.model_rebuild()
ListValue.model_rebuild()


class Input(Node):
    """A spike or event source: ``poisson``, ``spike_times``, ``events``."""

    name: str
    kind: Literal["poisson", "spike_times", "events", "poisson_drive"]
    size: int
    spec: Call
    loc: Loc


Pattern = Literal["all_to_all", "one_to_one", "probability", "indegree", "file"]


class Constant(Node):
    """``J = 0.1 mV`` in a network block: a named number (with its unit) that the network's
    expressions, sizes, probabilities, delays and inputs may use. ``value`` is folded (SI)."""

    name: str
    value: Expr
    loc: Loc


class FileSource(Node):
    """``from_file("edges.npz")``: a connection's synapses (and weights, delays) from a file.
    ``path`` is where lowering found it (beside the spec, or in an --include folder); None
    when it was refused (the error is reported)."""

    name: str  # as written
    path: Optional[str] = None
    weights: bool = False  # the file gives each synapse's w
    delays: bool = False  # the file gives each synapse's delay (seconds)
    loc: Loc


class Connection(Node):
    """Synapses from a population (or a slice ``[start:stop]`` of one) to another."""

    name: str
    source: str
    target: str
    source_range: Optional[tuple[int, Optional[int]]] = None  # a slice [start, stop) of the source; None: to the end
    target_range: Optional[tuple[int, Optional[int]]] = None
    synapse: str
    pattern: Pattern = "all_to_all"
    p: Optional[Expr] = None
    indegree: Optional[int] = None
    condition: Optional[Expr] = None
    delay: Optional[Expr] = None
    overrides: tuple[Assignment, ...] = ()
    file: Optional[FileSource] = None  # pattern "file": the synapses come from this file
    loc: Loc
    source_loc: Loc
    target_loc: Loc
    synapse_loc: Optional[Loc] = None


class Monitor(Node):
    #: "synapses": a per-synapse variable of a connection (``population`` names the connection;
    #: start, stop, step select synapses in the package's storage order)
    kind: Literal["spikes", "state", "synapses"]
    variables: tuple[str, ...] = ()
    population: str
    start: Optional[int] = None
    stop: Optional[int] = None
    step: Optional[int] = None
    every: Optional[Expr] = None
    loc: Loc
    population_loc: Loc


class Network(Node):
    name: str
    populations: tuple[Population, ...] = ()
    inputs: tuple[Input, ...] = ()
    connections: tuple[Connection, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    constants: tuple[Constant, ...] = ()
    #: constant -> why it is fixed when the package is built (the first structural use:
    #: a population size, an input's argument, an indegree, a monitor period), set by lowering
    fixed_constants: dict[str, str] = Field(default_factory=dict)
    loc: Loc


class Settings(Node):
    """A ``simulate`` or ``train`` block: a name and its settings."""

    name: str
    values: dict[str, Value] = Field(default_factory=dict)
    locs: dict[str, Loc] = Field(default_factory=dict, exclude=True)
    loc: Loc


class Model(Node):
    """Everything a build needs, from one spec file and its imports."""

    source: str
    spec_hash: str
    neurons: dict[str, NeuronModel] = Field(default_factory=dict)
    synapses: dict[str, SynapseModel] = Field(default_factory=dict)
    networks: dict[str, Network] = Field(default_factory=dict)
    simulations: dict[str, Settings] = Field(default_factory=dict)
    trainings: dict[str, Settings] = Field(default_factory=dict)
