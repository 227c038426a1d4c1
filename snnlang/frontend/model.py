"""The model (IR): plain, immutable data, checked against its schema.

Expressions are SymPy objects built by :mod:`snnlang.lower` from the syntax
tree. Quantities are in SI: a unit is a product of the seven base-unit
symbols of :mod:`snnlang.units` (``20 ms`` is ``s/50``).

Each node is a frozen dataclass with slots: lowering, its one maker, builds a
spec of 100,000 lines as about two million of them, and a pydantic model
validated at each construction cost three times as much time and memory.
pydantic describes the same classes: ``snnlang schema`` prints their JSON
schema, ``snnlang check --emit-ir`` their JSON form (an expression as SymPy's
string form), and :func:`validate` checks a whole model against the schema
(types, the allowed words), which the tests do for every spec they build.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, Optional, Union

import sympy

if TYPE_CHECKING:
    from pydantic import TypeAdapter
    from pydantic_core import core_schema

#: each node class (the decorator of every class below). A node is never changed once made
#: (model_copy makes a changed copy). The tests (SNNLANG_VALIDATE_IR) make nodes frozen, so that
#: code which changes one fails there; elsewhere that guard would triple the time to make one.
node = dataclass(slots=True, kw_only=True,
                 **({"frozen": True} if os.environ.get("SNNLANG_VALIDATE_IR") else {"unsafe_hash": True}))


class Node:
    """What every node of the model has: a copy with some fields changed, and (from pydantic)
    the JSON form and schema. Nodes compare equal when their fields are."""

    __slots__ = ()

    def model_copy(self, *, update: dict) -> "Node":
        return dataclasses.replace(self, **update)

    def model_dump_json(self, indent: Optional[int] = None) -> str:
        return _adapter(type(self)).dump_json(self, indent=indent).decode()

    @classmethod
    def model_json_schema(cls) -> dict:
        return _adapter(cls).json_schema()


def validate(model: "Node") -> None:
    """Check every node of a model against the schema (the type of each field, the words a
    Literal allows); raises pydantic's ValidationError, naming the field."""
    _adapter(type(model)).validate_python(model)


@lru_cache(maxsize=None)
def _adapter(cls: type) -> "TypeAdapter":
    """pydantic's description of a node class. pydantic loads only here (a check of a spec does
    not need it): the names the classes' annotations use for it are defined first."""
    from pydantic import ConfigDict, Field, PlainSerializer, PlainValidator, TypeAdapter, WithJsonSchema

    globals().update(
        SymExpr=Annotated[
            sympy.Basic,
            PlainValidator(_validate_expr),
            PlainSerializer(lambda e: str(e), return_type=str),
            WithJsonSchema({"type": "string", "description": "SymPy expression in SI base units"}),
        ],
        Internal=Field(exclude=True),  # a field of lowering's own bookkeeping: not in the JSON form
    )
    # validate() checks every node again, strictly
    Node.__pydantic_config__ = ConfigDict(revalidate_instances="always", strict=True, arbitrary_types_allowed=True)
    return TypeAdapter(cls)


def _validate_expr(value: Any) -> sympy.Basic:
    if not isinstance(value, sympy.Basic):
        raise ValueError(f"expected a SymPy expression, got {type(value).__name__}")
    return value


class Loc(NamedTuple):
    """A place in a spec: the file as shown to the user, the line and the column (from 1).

    A named tuple, the cheapest immutable object to make (a spec of 100,000 lines has about a
    million places); its JSON form is an object."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source, handler) -> "core_schema.CoreSchema":
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls, serialization=core_schema.plain_serializer_function_ser_schema(
            lambda loc: {"file": loc.file, "line": loc.line, "column": loc.column}))

    @classmethod
    def __get_pydantic_json_schema__(cls, schema, handler) -> dict:
        return {"type": "object", "properties": {"file": {"type": "string"}, "line": {"type": "integer"},
                                                  "column": {"type": "integer"}},
                "required": ["file", "line", "column"]}


@node
class Expr(Node):
    """An expression with its place, and the place of each name it uses."""

    value: SymExpr
    loc: Loc
    names: Annotated[dict[str, Loc], Internal] = field(default_factory=dict)
    #: the network constants this expression names (only an expression written in a network
    #: block sees them: a model's own text never does)
    constants: Annotated[frozenset[str], Internal] = frozenset()


@node
class Variable(Node):
    """A declared name. ``value`` is the default (parameters), the initial value
    (state, inputs, traces) or the definition (aliases)."""

    name: str
    kind: Literal["parameter", "state", "input", "alias", "pre", "post"]
    value: Expr
    loc: Loc


@node
class ODE(Node):
    var: str
    rhs: Expr
    unless_refractory: bool = False
    loc: Loc


@node
class Statement(Node):
    target: str
    op: Literal["=", "+=", "-=", "*=", "/="]
    value: Expr
    loc: Loc


@node
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


@node
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


@node
class Assignment(Node):
    """``name = value`` in a network: an override or a setting."""

    name: str
    value: Expr
    loc: Loc


@node
class Population(Node):
    name: str
    neuron: str
    size: int
    overrides: tuple[Assignment, ...] = ()
    loc: Loc
    neuron_loc: Loc


@node
class Call(Node):
    """A structured value: ``poisson(200, rate = 10 Hz)``, ``adam(lr = 1e-3)``."""

    name: str
    args: tuple["Value", ...] = ()
    kwargs: dict[str, "Value"] = field(default_factory=dict)
    loc: Loc


@node
class Number(Node):
    value: float
    dim: tuple[int, int, int, int, int, int, int]
    is_int: bool = False
    loc: Loc


@node
class Word(Node):
    """A bare name used as a value: ``method = bptt``, ``network = mlp``."""

    value: str
    loc: Loc


@node
class Text(Node):
    value: str
    loc: Loc


@node
class ListValue(Node):
    items: tuple["Value", ...]
    loc: Loc


Value = Union[Number, Word, Text, Call, ListValue]


@node
class Input(Node):
    """A spike or event source: ``poisson``, ``spike_times``, ``events``."""

    name: str
    kind: Literal["poisson", "spike_times", "events", "poisson_drive"]
    size: int
    spec: Call
    loc: Loc


Pattern = Literal["all_to_all", "one_to_one", "probability", "indegree", "file"]


@node
class Constant(Node):
    """``J = 0.1 mV`` in a network block: a named number (with its unit) that the network's
    expressions, sizes, probabilities, delays and inputs may use. ``value`` is folded (SI)."""

    name: str
    value: Expr
    loc: Loc


@node
class FileSource(Node):
    """``from_file("edges.npz")``: a connection's synapses (and weights, delays) from a file.
    ``path`` is where lowering found it (beside the spec, or in an --include folder); None
    when it was refused (the error is reported)."""

    name: str  # as written
    path: Optional[str] = None
    weights: bool = False  # the file gives each synapse's w
    delays: bool = False  # the file gives each synapse's delay (seconds)
    loc: Loc


@node
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


@node
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


@node
class Network(Node):
    name: str
    populations: tuple[Population, ...] = ()
    inputs: tuple[Input, ...] = ()
    connections: tuple[Connection, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    constants: tuple[Constant, ...] = ()
    #: constant -> why it is fixed when the package is built (the first structural use:
    #: a population size, an input's argument, an indegree, a monitor period), set by lowering
    fixed_constants: dict[str, str] = field(default_factory=dict)
    loc: Loc


@node
class Settings(Node):
    """A ``simulate`` or ``train`` block: a name and its settings."""

    name: str
    values: dict[str, Value] = field(default_factory=dict)
    locs: Annotated[dict[str, Loc], Internal] = field(default_factory=dict)
    loc: Loc


@node
class Model(Node):
    """Everything a build needs, from one spec file and its imports."""

    source: str
    spec_hash: str
    neurons: dict[str, NeuronModel] = field(default_factory=dict)
    synapses: dict[str, SynapseModel] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    simulations: dict[str, Settings] = field(default_factory=dict)
    trainings: dict[str, Settings] = field(default_factory=dict)
