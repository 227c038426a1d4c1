"""The settings of ``simulate`` and ``train`` blocks: one typed table, read once.

Every setting (and every argument of a call such as ``adam(lr = 1e-3)``) is an
:class:`Option`: its type, unit, allowed values or range, default and the training
methods it applies to. :class:`Reader` checks a block against the table, reporting
each problem at its place with a "did you mean", and turns it into :class:`Values`:
Python values in SI units with every default applied. ``snnlang check`` reports
what the reader finds; the planner (:func:`simulation`) and the trainers
(:func:`training`) read the values, so no default is written anywhere else.

A default is a value, ``None`` (off, or absent), a dict of values by mode (the
training method; for ``simulate``, ``discrete`` or ``continuous`` time), the name of
a call form (its arguments at their defaults), or :class:`Derived`: computed by the
reader named in its text from other settings or the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

from .diagnostics import Diagnostics, SpecError, did_you_mean
from .model import Call, ListValue, Loc, Model, Number, Settings, Text, Value, Word
from .units import DIMENSIONLESS, Dim, dim, format_dim

METHODS = ("bptt", "stdp", "convert")
MAX_SEED = 2**64 - 1  # the counter-based random numbers take a 64-bit seed (as --seed does)
SPLIT_SEED = 2**32 - 1  # scikit-learn's random_state, which splits the data sets
MAX_COUNT = 2**31 - 1


@dataclass(frozen=True)
class Derived:
    """A default computed from other settings or from the network, as ``text`` says."""

    text: str


@dataclass(frozen=True)
class Option:
    """A setting of a block, or an argument of a call form.

    ``type``: ``whole`` (int), ``number`` (float, SI), ``choice`` (a word of ``choices``),
    ``flag`` (true/false), ``text`` (a string in quotes), ``name`` (a name of a ``refers``:
    network, population, input, connection, state, parameter), ``names`` (a name or a
    list of names) or ``call`` (one of ``forms``; a bare name is a call without
    arguments). ``unit``: of a number: ``1``, ``s``, ``Hz`` or ``any``.
    """

    name: str
    type: str
    doc: str = ""
    default: Any = None
    unit: str = "1"
    required: Union[bool, tuple[str, ...]] = False  # always, or in these modes
    low: Optional[float] = None
    high: Optional[float] = None
    above: bool = False  # the range excludes low
    below: bool = False  # the range excludes high
    choices: tuple[str, ...] = ()
    refers: str = ""
    forms: tuple["Form", ...] = ()
    methods: tuple[str, ...] = ()  # () : every method
    noun: str = ""  # in messages: "unknown <noun> 'x'"
    unknown: str = ""  # the message for an unknown form, with {name} and {choices}
    hint: str = ""  # in "train needs <name> = <hint>"


@dataclass(frozen=True)
class Form:
    """A call form: ``adam(lr, beta1, beta2, eps)``. ``positional``: the arguments that may be
    given without a name, in order; ``*name`` takes every further one (a ``names`` argument)."""

    name: str
    args: tuple[Option, ...] = ()
    positional: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    doc: str = ""


def _whole(name, doc, default=None, low=1, high=MAX_COUNT, **kw) -> Option:
    return Option(name, "whole", doc, default=default, low=low, high=high, **kw)


def _time(name, doc, default=None, low=0.0, above=True, **kw) -> Option:
    return Option(name, "number", doc, unit="s", default=default, low=low, above=above, **kw)


def _number(name, doc, default=None, **kw) -> Option:
    return Option(name, "number", doc, default=default, **kw)


# ---- simulate --------------------------------------------------------------------------------

SIMULATE: tuple[Option, ...] = (
    _time("dt", "the time step", default={"discrete": 1e-3, "continuous": 1e-4}),
    _time("duration", "the simulated time (or give steps)", default={"discrete": 0.1, "continuous": 1.0}),
    _whole("steps", "the number of time steps (instead of duration)", default=Derived("duration / dt, rounded")),
    _whole("seed", "the seed of every random draw", default=0, low=0, high=MAX_SEED),
    Option("precision", "choice", "the arithmetic: float64, float32 (c target, docs/native.md), or Loihi's fixed "
           "point (docs/lava.md; numpy and lava targets)", "float64", choices=("float64", "float32", "loihi"),
           noun="precision"),
    _whole("loihi_vth", "Loihi's threshold register vth (fixed point; default: chosen per population)", None,
           high=2**17 - 1),
)

# ---- train -----------------------------------------------------------------------------------

#: the data sets ``data = tonic(name = ...)`` reads (snnlang.training.datasets.LAYOUTS describes their files)
TONIC_DATASETS = ("NMNIST", "DVSGesture", "POKERDVS", "SHD", "SSC")
_FRACTION = dict(low=0.0, high=1.0, above=True, below=True)
_SPLIT = (_number("test_fraction", "the share of samples kept for testing", 0.25, **_FRACTION),
          _whole("seed", "the seed of the split", 0, low=0, high=SPLIT_SEED))
_DATA = (
    Form("digits", _SPLIT, doc="scikit-learn's 8x8 digits"),
    Form("npz", (Option("file", "text", "the .npz file, relative to the spec", required=True),) + _SPLIT,
         doc="arrays from an .npz file"),
    Form("dvs_digits", _SPLIT + (
        _whole("width", "the field of view, in pixels", 16),
        _whole("height", "the field of view, in pixels", 12),
        _time("duration", "the time a digit takes to cross", 0.1),
        _whole("frames", "rendered frames per sample", 50),
        _number("threshold", "the contrast threshold (log intensity)", 0.25, low=0.0, above=True),
        _number("jitter", "random offsets, in pixels", 1.0, low=0.0),
        Option("noise", "number", "background events per pixel and second", unit="Hz", default=0.0, low=0.0),
        _number("travel", "the distance the digit moves, in pixels", Derived("width - 8")),
        _whole("limit", "keep only the first samples of each part", None),
    ), doc="the digits seen by an emulated event camera"),
    Form("tonic", (
        Option("name", "text", "the data set, as tonic names it", required=True, choices=TONIC_DATASETS,
               noun="tonic data set"),
        Option("root", "text", "the folder tonic downloads into (its save_to), relative to the spec", required=True),
        _whole("downsample", "pixels (channels) merged per side: x // k, y // k", 1),
        _time("denoise", "keep an event only if a neighbouring pixel had one less than this before", None),
        Option("align", "flag", "times from each sample's first event", True),
        _whole("limit", "keep this many samples of each part, drawn at random", None),
        _whole("seed", "the seed of the draw of limit", 0, low=0, high=SPLIT_SEED),
    ), doc="a neuromorphic data set in tonic's files (docs/interop.md)"),
)
_STEPS = _whole("steps", "time steps per sample", Derived("the train block's steps"), methods=("bptt", "convert"))
_GAIN = _number("gain", "the factor of a pixel value", 1.0, low=0.0, methods=("bptt", "convert"))
_ENCODE = (
    Form("poisson", (_STEPS, _GAIN, Option("rate", "number", "the rate of a pixel of value 1", unit="Hz",
                                           default=63.75, low=0.0, methods=("stdp",))),
         doc="a spike with probability gain x per step (stdp: a Poisson rate x rate)"),
    Form("latency", (_STEPS, _number("tau", "the step of a pixel of value 0", Derived("steps - 1"), low=0.0),
                     _number("threshold", "pixels at or below it do not spike", 0.01)),
         methods=("bptt", "convert"), doc="one spike per pixel, brighter earlier"),
    Form("current", (_STEPS, _GAIN), methods=("bptt", "convert"), doc="the value gain x at every step"),
    Form("events", (_STEPS, _time("duration", "the time the steps span", Derived("the time of the last event"))),
         methods=("bptt", "convert"), doc="event streams binned into steps"),
)
_POSITIVE_ANY = dict(unit="any", low=0.0, above=True)
_SURROGATES = (
    Form("fast_sigmoid", (_number("slope", "k: 1 / (k|c| + 1)^2", 25.0, **_POSITIVE_ANY),)),
    Form("sigmoid", (_number("slope", "k: the slope of sigmoid(k c)", 25.0, **_POSITIVE_ANY),)),
    Form("atan", (_number("alpha", "a: (a/2) / (1 + (pi a c / 2)^2)", 2.0, **_POSITIVE_ANY),)),
    Form("triangle", (_number("slope", "k: k max(0, 1 - k|c|)", 1.0, **_POSITIVE_ANY),)),
    Form("straight_through", ()),
)
_POPULATION = Option("population", "name", "the output population",
                     Derived("readout, else the network's last population"), refers="population")
_READOUTS = (
    Form("spike_count", (_POPULATION,), ("population",), doc="sum over steps of the spikes"),
    Form("rate", (_POPULATION,), ("population",), doc="the spike count / steps"),
    Form("max_membrane", (_POPULATION, _number("scale", "the factor of the membrane", 1.0, unit="any")),
         ("population",), doc="scale times the largest membrane value"),
)
_SPIKE_TRAIN = Form("spike_train", (_POPULATION,), ("population",), doc="the spikes of every step (mse only)")
_LOSSES = (
    Form("cross_entropy", (Option("readout", "call", "what the loss reads", "spike_count", forms=_READOUTS,
                                  unknown="cross_entropy() cannot read {name}(); it reads {choices}"),),
         ("readout",)),
    Form("mse", (Option("readout", "call", "what the loss reads", "spike_count", forms=_READOUTS + (_SPIKE_TRAIN,),
                        unknown="mse() cannot read {name}(); it reads {choices}"),
                 _number("correct", "the target of the label's neuron", Derived("0.8; with max_membrane 1")),
                 _number("incorrect", "the target of the other neurons", Derived("0.2; with max_membrane 0"))),
         ("readout",)),
)
_LR = _number("lr", "the learning rate", 1e-3, low=0.0, above=True)
_BELOW_1 = dict(low=0.0, high=1.0, below=True)
_OPTIMIZERS = (
    Form("sgd", (_LR,)),
    Form("momentum", (_LR, _number("momentum", "mu in m = mu m + g", 0.9, **_BELOW_1))),
    Form("adam", (_LR, _number("beta1", "the decay of the gradient's mean", 0.9, **_BELOW_1),
                  _number("beta2", "the decay of the squared gradient's mean", 0.999, **_BELOW_1),
                  _number("eps", "added to the denominator", 1e-8, low=0.0, above=True))),
)
_SCHEDULES = (
    Form("step", (_whole("step_size", "epochs between steps", 10), _number("gamma", "the factor per step", 0.1, low=0.0, above=True)),
         methods=("bptt", "convert"), doc="lr gamma^floor(epoch / step_size)"),
    Form("cosine", (_number("min_lr", "the last learning rate", 0.0, low=0.0),),
         methods=("bptt", "convert"), doc="from lr to min_lr along a half cosine"),
    Form("step", (Option("parameters", "names", "the parameters scaled", refers="parameter", required=True),
                  _number("gamma", "the factor per step", 0.1, low=0.0, above=True),
                  _whole("step_size", "epochs between steps", 1)),
         ("*parameters",), methods=("stdp",), doc="parameters times gamma^floor(epoch / step_size)"),
)
_NORMALISE = (
    Form("percentile", (_number("p", "the percentile of the positive activations", 99.9, low=0.0, high=100.0,
                                above=True),), ("p",), methods=("convert",)),
    Form("incoming", (_number("total", "the sum of the weights into each neuron", required=True, low=0.0, above=True),
                      Option("variable", "name", "the synapse variable normalised", default="w")),
         methods=("stdp",)),
)

BPTT_CONVERT = ("bptt", "convert")
TRAIN: tuple[Option, ...] = (
    Option("network", "name", "the network to train", refers="network", required=True, hint="<name of a network>"),
    Option("method", "choice", "how to train", choices=METHODS, required=True, noun="training method",
           hint="bptt, stdp or convert"),
    Option("data", "call", "the data set", "digits", forms=_DATA, noun="data set"),
    Option("encode", "call", "how a sample becomes input spikes", "poisson", forms=_ENCODE, noun="encoder"),
    Option("surrogate", "call", "the derivative of a spike", "fast_sigmoid", forms=_SURROGATES, methods=("bptt",),
           noun="surrogate"),
    Option("loss", "call", "the loss", "cross_entropy", forms=_LOSSES, methods=BPTT_CONVERT, noun="loss"),
    Option("optimizer", "call", "the optimiser", "adam", forms=_OPTIMIZERS, methods=BPTT_CONVERT, noun="optimizer"),
    Option("schedule", "call", "the learning rate per epoch (stdp: parameters per epoch)", None, forms=_SCHEDULES,
           noun="schedule"),
    _whole("epochs", "passes over the training set", {"bptt": 10, "convert": 10, "stdp": 1}),
    _whole("batch", "samples per gradient step", 64, methods=BPTT_CONVERT),
    _whole("steps", "time steps per sample", Derived("the simulate block's steps; stdp: present / dt")),
    _whole("T", "time steps of the converted network", Derived("steps"), methods=("convert",)),
    _time("dt", "the time step", Derived("the simulate block's dt")),
    _whole("seed", "the seed of initial weights and random draws", 0, low=0, high=MAX_SEED),
    Option("precision", "choice", "the floating-point type of training", "float64", choices=("float64", "float32"),
           methods=BPTT_CONVERT, noun="precision"),
    _number("weight_decay", "L2 factor added to the gradient", 0.0, low=0.0, methods=BPTT_CONVERT),
    _number("dropout", "the share of hidden spikes dropped", 0.0, low=0.0, high=1.0, below=True, methods=("bptt",)),
    _number("clip_grad", "the largest L2 norm of the gradient (0: off)", None, low=0.0, methods=BPTT_CONVERT),
    Option("detach_reset", "flag", "no gradient through the reset", False, methods=("bptt",)),
    Option("bias", "flag", "a trained bias per neuron", True, methods=BPTT_CONVERT),
    Option("input", "name", "the input the data drive", Derived("the first input; stdp: the first poisson input"),
           refers="input"),
    Option("readout", "name", "the output population",
           Derived("the loss's population, else the last population"), refers="population", required=("stdp",),
           hint="<a population of the network>"),
    _time("present", "time per training sample", 0.35, methods=("stdp",)),
    _time("present_test", "time per test sample", Derived("as training samples"), methods=("stdp",)),
    _time("rest", "time without input after each sample", 0.0, above=False, methods=("stdp",)),
    Option("keep", "names", "state kept from sample to sample", (), refers="state", methods=("stdp",)),
    Option("freeze", "names", "parameters set to 0 while testing", (), refers="parameter", methods=("stdp",)),
    Option("plasticity", "names", "the connections normalised and saved",
           Derived("the plastic connections from input"), refers="connection", methods=("stdp",)),
    Option("normalise", "call", "weight normalisation", {"convert": "percentile", "stdp": None}, forms=_NORMALISE,
           methods=("convert", "stdp"), noun="normalisation"),
)

#: names that are not settings, with what to write instead
REMOVED = {
    "simulate": {"network": "the block's name is the network: simulate <network> { ... }"},
    "train": {"reset": "the reset is the neuron's own (reset { v -= thr } subtracts, reset { v = 0 } sets to "
                       "zero): write it in the neuron, so that training and simulation agree"},
}

_UNITS: dict[str, Optional[Dim]] = {"1": DIMENSIONLESS, "s": dim(s=1), "Hz": dim(s=-1), "any": None}


class Values:
    """Typed settings of a block (or the arguments of a call): every option, as set or by default.

    Read them as attributes (``train.epochs``, ``train.optimizer.lr``); ``name`` is the
    block's name or the call's form; ``given`` the options the spec sets.
    """

    def __init__(self, name: str, values: dict[str, Any], locs: dict[str, Loc], loc: Loc):
        self.name, self.loc = name, loc
        self._values, self._locs = values, locs

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["_values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    @property
    def given(self) -> frozenset[str]:
        return frozenset(self._locs)

    def where(self, key: str) -> Loc:
        """The place of a setting's value, else of the block or call."""
        return self._locs.get(key, self.loc)

    def arguments(self, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """The values that are set or have a fixed default (None and derived ones left out)."""
        return {k: v for k, v in self._values.items() if v is not None and k not in skip}


@dataclass
class Names:
    """What ``name`` settings may refer to in the block's network."""

    network: str
    populations: list[str]
    inputs: dict[str, str]  # name -> kind
    connections: list[str]
    states: list[str]
    parameters: list[str]

    def of(self, refers: str) -> list[str]:
        return {"population": self.populations, "input": list(self.inputs), "connection": self.connections,
                "state": self.states, "parameter": self.parameters}[refers]


def names_of(model: Model, network: str) -> Optional[Names]:
    net = model.networks.get(network)
    if net is None:
        return None
    neurons = [model.neurons[p.neuron] for p in net.populations if p.neuron in model.neurons]
    synapses = [model.synapses[c.synapse] for c in net.connections if c.synapse in model.synapses]
    return Names(network, [p.name for p in net.populations], {i.name: i.kind for i in net.inputs},
                 [c.name for c in net.connections],
                 list(dict.fromkeys(v.name for n in neurons for v in n.state)),
                 list(dict.fromkeys(v.name for m in neurons + synapses for v in m.parameters)))


_BAD = object()  # a value already reported


class Reader:
    """Checks a block against its table and returns its :class:`Values`; problems go to ``diags``."""

    def __init__(self, diags: Diagnostics, mode: Optional[str] = None, names: Optional[Names] = None,
                 networks: tuple[str, ...] = ()):
        self.diags, self.mode, self.names, self.networks = diags, mode, names, networks

    # ---- a block -------------------------------------------------------------------------
    def block(self, block: Settings, options: tuple[Option, ...], kind: str) -> Values:
        table = {o.name: o for o in options}
        values: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for key, value in block.values.items():
            option = table.get(key)
            if option is None:
                where = block.locs.get(key, block.loc)
                if key in REMOVED[kind]:
                    self.diags.error(where, f"'{key}' is not a {kind} setting: {REMOVED[kind][key]}")
                else:
                    self.diags.error(where, f"unknown {kind} setting '{key}'" + did_you_mean(key, table))
                continue
            if self.mode in METHODS and option.methods and self.mode not in option.methods:
                self.diags.warning(block.locs.get(key, block.loc), f"'{key}' does nothing with method = {self.mode} "
                                   f"(it is a setting of method = {' or '.join(option.methods)})")
            found = self.value(option, value, key)
            if found is not _BAD:
                values[key] = found
                locs[key] = value.loc
        for option in options:
            if option.name not in block.values:
                if self._required(option):
                    who = kind if option.required is True else f"method = {self.mode}"
                    self.diags.error(block.loc, f"{who} needs {option.name} = {option.hint or '...'}")
                values[option.name] = self.default(option)
            values.setdefault(option.name, None)
        return Values(block.name, {o.name: values[o.name] for o in options}, locs, block.loc)

    def _required(self, option: Option) -> bool:
        return option.required is True or (bool(option.required) and self.mode in option.required)

    def default(self, option: Option) -> Any:
        value = option.default
        if isinstance(value, dict):
            value = value.get(self.mode)
        if isinstance(value, Derived):
            return None
        if option.type == "call" and isinstance(value, str):
            return self.form_defaults(self.forms(option, value)[0])
        return value

    def form_defaults(self, form: Form, loc: Optional[Loc] = None) -> Values:
        args = {a.name: self.default(a) for a in self._args(form)}
        return Values(form.name, args, {}, loc or _NOWHERE)

    # ---- one value -----------------------------------------------------------------------
    def value(self, option: Option, value: Value, what: str) -> Any:
        if isinstance(value, Word) and value.value == "?":
            return _BAD  # lowering reported it
        check = getattr(self, "_" + option.type)
        return check(option, value, what)

    def _whole(self, option: Option, value: Value, what: str) -> Any:
        if not (isinstance(value, Number) and value.is_int and value.dim == DIMENSIONLESS
                and option.low <= value.value <= option.high):
            self.diags.error(value.loc, f"{what} must be a whole number from {option.low} to {option.high}")
            return _BAD
        return int(value.value)

    def _number(self, option: Option, value: Value, what: str) -> Any:
        want = _UNITS[option.unit]
        if not isinstance(value, Number):
            units = "" if want is None else " without units" if want == DIMENSIONLESS else f" with units of {format_dim(want)}"
            self.diags.error(value.loc, f"{what} must be a number{units}")
            return _BAD
        if want is not None and value.dim != want and value.value != 0:
            self.diags.error(value.loc, f"dimension mismatch: {what} is in {format_dim(want)} "
                                        f"but the value is in {format_dim(value.dim)}")
            return _BAD
        x = value.value
        too_low = option.low is not None and (x < option.low or (option.above and x == option.low))
        too_high = option.high is not None and (x > option.high or (option.below and x == option.high))
        if too_low or too_high:
            self.diags.error(value.loc, f"{what} must be {range_text(option)}")
            return _BAD
        return float(x)

    def _choice(self, option: Option, value: Value, what: str) -> Any:
        if isinstance(value, Word) and value.value in option.choices:
            return value.value
        name = value.value if isinstance(value, (Word, Text)) else "?"
        quotes = " (without quotes)" if isinstance(value, Text) and name in option.choices else ""
        self.diags.error(value.loc, f"unknown {option.noun or what} '{name}'; choose {_or(option.choices)}{quotes}"
                         + did_you_mean(name, option.choices))
        return _BAD

    def _flag(self, option: Option, value: Value, what: str) -> Any:
        if isinstance(value, Word) and value.value in ("true", "false"):
            return value.value == "true"
        self.diags.error(value.loc, f"{what} must be true or false")
        return _BAD

    def _text(self, option: Option, value: Value, what: str) -> Any:
        if isinstance(value, Text) and option.choices and value.value not in option.choices:
            self.diags.error(value.loc, f"unknown {option.noun or what} '{value.value}'; choose "
                             + _or(['"' + c + '"' for c in option.choices])
                             + did_you_mean(value.value, option.choices))
            return _BAD
        if isinstance(value, Text):
            return value.value
        example = f'"{option.choices[0]}"' if option.choices else '"data.npz"'
        self.diags.error(value.loc, f"{what} must be a string in quotes, such as {example}")
        return _BAD

    def _name(self, option: Option, value: Value, what: str) -> Any:
        if not isinstance(value, Word):
            thing = f"the name of {_a(option.refers)}" if option.refers else "a name"
            self.diags.error(value.loc, f"{what} must be {thing}, without quotes")
            return _BAD
        return value.value if self.refers(option, value) else _BAD

    def _names(self, option: Option, value: Value, what: str) -> Any:
        items = value.items if isinstance(value, ListValue) else (value,)
        found = [self._name(option, item, what) for item in items]
        return _BAD if _BAD in found else tuple(found)

    def refers(self, option: Option, value: Word) -> bool:
        """Whether a name is one of what the option refers to (reported if not)."""
        if not option.refers or self.names is None and option.refers != "network":
            return True
        name = value.value
        if option.refers == "network":
            candidates = list(self.networks)
            message = f"unknown network '{name}'"
        else:
            candidates = self.names.of(option.refers)
            network = self.names.network
            message = {"population": f"'{name}' is not a population of network '{network}'",
                       "input": f"'{name}' is not an input of network '{network}'",
                       "connection": f"'{name}' is not a connection of network '{network}'",
                       "state": f"no population has a state variable '{name}'",
                       "parameter": f"no parameter '{name}' in network '{network}'"}[option.refers]
        if name in candidates:
            return True
        self.diags.error(value.loc, message + did_you_mean(name, candidates))
        return False

    # ---- calls ---------------------------------------------------------------------------
    def forms(self, option: Option, name: str) -> list[Form]:
        """The forms of that name for this mode (every mode's when there is none)."""
        named = [f for f in option.forms if f.name == name]
        fitting = [f for f in named if not f.methods or self.mode not in METHODS or self.mode in f.methods]
        return fitting or named

    def _args(self, form: Form) -> list[Option]:
        return [a for a in form.args if not a.methods or self.mode not in METHODS or self.mode in a.methods]

    def _call(self, option: Option, value: Value, what: str) -> Any:
        noun = option.noun or what
        if isinstance(value, Word):
            value = Call(name=value.value, loc=value.loc)
        allowed = [f for f in option.forms if not f.methods or self.mode not in METHODS or self.mode in f.methods]
        choices = _or([f"{f.name}(...)" for f in dict((f.name, f) for f in allowed).values()])
        if not isinstance(value, Call):
            self.diags.error(value.loc, f"{what} must be one of {choices}")
            return _BAD
        forms = self.forms(option, value.name)
        if not forms:
            message = (option.unknown or "unknown {noun} '{name}'; choose {choices}").format(
                noun=noun, name=value.name, choices=choices)
            self.diags.error(value.loc, message + ("" if option.unknown else did_you_mean(value.name, [f.name for f in allowed])))
            return _BAD
        form = forms[0]
        if form not in allowed:
            self.diags.error(value.loc, f"{value.name}(...) is not {_a(noun)} of method = {self.mode}; "
                                        f"choose {choices}")
            return _BAD
        return self.call(form, value)

    def call(self, form: Form, call: Call) -> Any:
        args = self._args(form)
        usable = {a.name for a in args}
        given: dict[str, Value] = {}
        ok = True
        positional = list(form.positional)
        for k, item in enumerate(call.args):
            if positional and positional[0].startswith("*"):  # step(eta, theta_plus): the rest is a list
                given[positional[0][1:]] = ListValue(items=call.args[k:], loc=item.loc)
                break
            if not positional:
                if form.positional:
                    message = f"{form.name}() takes only {_or(form.positional)} without a name"
                else:
                    message = f"{form.name}() takes no unnamed argument" + (
                        f"; name it, such as {form.name}({args[0].name} = ...)" if args else "")
                self.diags.error(item.loc, message)
                ok = False
                break
            given[positional.pop(0)] = item
        for key, item in call.kwargs.items():
            other = next((a for a in form.args if a.name == key and key not in usable), None)
            if key in given:
                self.diags.error(item.loc, f"{form.name}(): '{key}' is given twice")
                ok = False
            elif other is not None:  # an argument of another method: left out
                self.diags.warning(item.loc, f"{form.name}(): '{key}' does nothing with method = {self.mode} "
                                             f"(it is a setting of method = {' or '.join(other.methods)})")
            elif key not in usable:
                self.diags.error(item.loc, f"{form.name}() has no parameter '{key}'; "
                                 + (f"it takes {', '.join(a.name for a in args)}" if args else "it takes none")
                                 + did_you_mean(key, usable))
                ok = False
            else:
                given[key] = item
        values: dict[str, Any] = {}
        locs: dict[str, Loc] = {}
        for a in args:
            if a.name in given:
                found = self.value(a, given[a.name], f"{a.name} of {form.name}()")
                if found is _BAD:
                    ok = False
                else:
                    values[a.name], locs[a.name] = found, given[a.name].loc
            else:
                if self._required(a):
                    self.diags.error(call.loc, f"{form.name}() needs {a.name} = ...")
                    ok = False
                values[a.name] = self.default(a)
        return Values(form.name, values, locs, call.loc) if ok else _BAD


_NOWHERE = Loc(file="<default>", line=1, column=1)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _or(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def range_text(option: Option) -> str:
    unit = "" if option.unit in ("1", "any") or option.type == "whole" else f" {option.unit}"
    low, high = ((None if x is None else str(int(x)) if option.type == "whole" else f"{x:g}{unit}")
                 for x in (option.low, option.high))
    if low is not None and high is not None:
        return f"in {'(' if option.above else '['}{low}, {high}{')' if option.below else ']'}"
    if low is not None:
        return "positive" if option.low == 0 and option.above else f"above {low}" if option.above else f"at least {low}"
    if high is not None:
        return f"below {high}" if option.below else f"at most {high}"
    return "any"


# ---- the blocks --------------------------------------------------------------------------------

def check_simulation(block: Settings, discrete: bool, diags: Diagnostics) -> Values:
    """The typed settings of a simulate block; every problem reported to ``diags``."""
    mode = "discrete" if discrete else "continuous"
    values = Reader(diags, mode).block(block, SIMULATE, "simulate")._values
    if "steps" in block.values and "duration" in block.values:
        diags.error(block.locs.get("steps", block.loc), "set duration or steps, not both")
    if "steps" not in block.values and values["dt"] and values["duration"]:
        steps = round(values["duration"] / values["dt"])
        where = block.values.get("duration", block.values.get("dt"))
        if not 1 <= steps <= MAX_COUNT:
            diags.error(where.loc if where is not None else block.loc,
                        f"duration / dt is {steps} steps; it must be from 1 to {MAX_COUNT}")
        elif abs(steps * values["dt"] - values["duration"]) > 1e-9 * values["duration"]:
            diags.warning(where.loc if where is not None else block.loc,
                          f"duration = {_time_text(values['duration'])} is not a multiple of dt = "
                          f"{_time_text(values['dt'])}: the run is {steps} steps, {_time_text(steps * values['dt'])}")
        values["steps"] = int(max(1, min(steps, MAX_COUNT)))
    elif values["steps"] is not None and values["dt"]:
        values["duration"] = values["steps"] * values["dt"]
    return Values(block.name, values, {k: v.loc for k, v in block.values.items()}, block.loc)


def _time_text(seconds: float) -> str:
    return f"{seconds:.10g} s" if seconds >= 1 else f"{seconds * 1e3:.10g} ms"


def simulation(block: Optional[Settings], discrete: bool) -> Values:
    """dt, duration, steps and seed of a simulate block (None: every default); raises SpecError."""
    if block is None:
        block = Settings(name="", values={}, loc=_NOWHERE)
    diags = Diagnostics()
    values = check_simulation(block, discrete, diags)
    if diags.errors:
        raise SpecError(diags)
    return values


def check_training(model: Model, block: Settings, diags: Diagnostics) -> Values:
    """The typed settings of a train block; every problem reported to ``diags``."""
    method = block.values.get("method")
    mode = method.value if isinstance(method, Word) and method.value in METHODS else None
    network = block.values.get("network")
    names = names_of(model, network.value) if isinstance(network, Word) else None
    reader = Reader(diags, mode, names, tuple(model.networks))
    values = reader.block(block, TRAIN, "train")
    if mode == "stdp" and names is not None and "input" not in values.given:
        poisson = [n for n, kind in names.inputs.items() if kind == "poisson"]
        if not poisson:
            diags.error(block.loc, f"method = stdp needs input = <a poisson input of network '{names.network}'> "
                                   "(its rates are set per sample)")
    elif mode == "stdp" and names is not None and values.input is not None and names.inputs[values.input] != "poisson":
        diags.error(values.where("input"), f"method = stdp sets the rates of a poisson input; '{values.input}' "
                                           f"is a {names.inputs[values.input]} input")
    data, encode = values.data, values.encode
    if getattr(data, "name", None) == "tonic" and mode in METHODS:  # event streams: only the events encoder bins them
        if mode == "stdp":
            diags.error(values.where("data"), "tonic(...) data are event streams; method = stdp trains on "
                                              "images (poisson rates): use method = bptt or convert")
        elif getattr(encode, "name", None) not in (None, "events"):
            diags.error(values.where("encode") if "encode" in values.given else values.where("data"),
                        "tonic(...) data are event streams: use encode = events(steps = ..., duration = ...)"
                        + (f", not {encode.name}(...)" if "encode" in values.given else ""))
    return values


def training(model: Model, block: Settings) -> Values:
    """The typed settings of a train block, defaults applied; raises SpecError on a bad setting."""
    diags = Diagnostics()
    values = check_training(model, block, diags)
    if diags.errors:
        raise SpecError(diags)
    return values


def form_arguments(option: str, form: str, given: dict, method: Optional[str] = None) -> dict[str, Any]:
    """The arguments of a call form of a train setting, given ones over defaults (derived ones None),
    for code called with plain values: ``form_arguments("encode", "latency", {"tau": 3})``.
    Raises ValueError on an unknown form or argument."""
    table = _option(option)
    reader = Reader(Diagnostics(), method)
    forms = reader.forms(table, form)
    if not forms:
        raise ValueError(f"unknown {table.noun} '{form}'; choose {_or(sorted({f.name for f in table.forms}))}")
    args = reader._args(forms[0])
    unknown = set(given) - {a.name for a in args}
    if unknown:
        raise ValueError(f"{table.noun} {form}() has no setting {', '.join(sorted(unknown))}; "
                         f"it takes {', '.join(a.name for a in args) or 'none'}")
    return {a.name: given[a.name] if a.name in given else reader.default(a) for a in args}


def loss_arguments(kind: str, readout: str, given: dict) -> dict[str, Any]:
    """The arguments of ``loss = <kind>(<readout>(...))`` other than the population (correct,
    incorrect, scale), given ones over defaults (derived ones None). Raises ValueError."""
    reader = Reader(Diagnostics())
    option = _option("loss")
    forms = reader.forms(option, kind)
    if not forms:
        raise ValueError(f"unknown loss '{kind}'; choose {_or([f.name + '(...)' for f in option.forms])}")
    inner = next(a for a in forms[0].args if a.name == "readout")
    readouts = reader.forms(inner, readout)
    if not readouts:
        raise ValueError(inner.unknown.format(name=readout, choices=_or([f.name + "(...)" for f in inner.forms])))
    args = [a for a in forms[0].args + readouts[0].args if a.name not in ("readout", "population")]
    unknown = set(given) - {a.name for a in args}
    if unknown:
        raise ValueError(f"the loss has no setting {', '.join(sorted(unknown))}; "
                         f"{kind}({readout}(...)) takes {', '.join(a.name for a in args) or 'none'}")
    return {a.name: given[a.name] if a.name in given else reader.default(a) for a in args}


def _option(name: str) -> Option:
    return next(o for o in TRAIN if o.name == name)


# ---- documentation -----------------------------------------------------------------------------

def markdown(kind: str) -> str:
    """The reference table of a block's settings, as docs/language.md and docs/training.md show it."""
    options = SIMULATE if kind == "simulate" else TRAIN
    head = "| setting | meaning | type | unit | default | allowed |" + (" methods |" if kind == "train" else "")
    rows = [head, "| --- " * (head.count("|") - 1) + "|"]
    for o in options:
        row = f"| `{o.name}` | {o.doc} | {_type_text(o)} | {_unit_text(o)} | {_default_text(o)} | {_allowed_text(o)} |"
        if kind == "train":
            row += f" {', '.join(o.methods) if o.methods else 'all'} |"
        rows.append(row)
    return "\n".join(rows)


def markdown_forms(option: str) -> str:
    """The reference table of the call forms of one train setting and their arguments."""
    table = _option(option)
    rows = ["| form | argument | meaning | type | unit | default | allowed | methods |", "| --- " * 8 + "|"]
    for f in table.forms:
        call = f"`{f.name}(" + ", ".join(p[1:] + ", ..." if p.startswith("*") else p for p in f.positional) + ")`" \
            if f.positional else f"`{f.name}`"
        methods = ", ".join(f.methods) if f.methods else "all"
        if not f.args:
            rows.append(f"| {call} | — | {f.doc} | | | | | {methods} |")
        for a in f.args:
            rows.append(f"| {call} | `{a.name}` | {a.doc} | {_type_text(a)} | {_unit_text(a)} | {_default_text(a)} | "
                        f"{_allowed_text(a)} | {', '.join(a.methods) if a.methods else methods} |")
    return "\n".join(rows)


def _type_text(o: Option) -> str:
    return {"whole": "whole number", "number": "number", "choice": "choice", "flag": "true/false", "text": "string",
            "name": f"{o.refers} name".lstrip(), "names": f"{o.refers} names", "call": "call"}[o.type]


def _unit_text(o: Option) -> str:
    return o.unit if o.type == "number" else ""


def _show(value: Any, o: Option) -> str:
    if isinstance(value, Derived):
        return value.text
    if value is None:
        return "off" if o.type != "name" else "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"`{value}`" if o.type != "call" else f"`{value}(...)`"
    if isinstance(value, tuple):
        return "none" if not value else ", ".join(value)
    if value == 0:
        return "0"
    if o.unit == "s":
        return f"{value * 1e3:g} ms" if value < 1 else f"{value:g} s"
    if o.unit == "Hz":
        return f"{value:g} Hz"
    return f"{value:g}"


def _default_text(o: Option) -> str:
    if o.required is True:
        return "required"
    d = o.default
    text = "; ".join(f"{k}: {_show(v, o)}" for k, v in d.items()) if isinstance(d, dict) else _show(d, o)
    if o.required:
        text += f" (required with {', '.join(o.required)})"
    return text


def _allowed_text(o: Option) -> str:
    if o.type in ("whole", "number"):
        return range_text(o) if (o.low is not None or o.high is not None) else "any"
    if o.type == "choice":
        return ", ".join(f"`{c}`" for c in o.choices)
    if o.type == "flag":
        return "`true`, `false`"
    if o.type == "call":
        return ", ".join(dict.fromkeys(f"`{f.name}(...)`" for f in o.forms))
    if o.type == "text" and o.choices:
        return ", ".join(f'`"{c}"`' for c in o.choices)
    if o.type in ("name", "names") and not o.refers:
        return "a name"
    if o.type in ("name", "names"):
        return f"{_a(o.refers)} of the network" if o.refers != "network" else "a network of the spec"
    return "a string"


__all__ = ["Derived", "Option", "Form", "Values", "Reader", "SIMULATE", "TRAIN", "METHODS", "check_simulation",
           "simulation", "check_training", "training", "form_arguments", "loss_arguments", "markdown", "markdown_forms"]
