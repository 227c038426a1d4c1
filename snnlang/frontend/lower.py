"""Lower: syntax trees to the Model.

Follows imports, resolves unit names, and builds every expression as a SymPy
object from the syntax tree, node by node. Spec text is never handed to
``eval``, ``exec`` or ``sympify``: a name becomes a Symbol, a number a
Rational, a call one of the functions of :mod:`snnlang.functions`.
"""
from __future__ import annotations

import contextlib
import hashlib
import keyword
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Optional

import lark
import sympy
from lark import Token
from sympy.logic.boolalg import Boolean

from . import units
from .diagnostics import Diagnostics, did_you_mean, display_path
from .dims import BaseUnit, DimensionError, Poison, constant_value, unit_expr
from .datafile import DataFileError, read_edges, resolve_data
from .functions import BUILTINS, FUNCTIONS, is_random, symbol
from .model import (
    Assignment, Call, Connection, Constant, Expr, FileSource, Input, ListValue, Loc, Model, Monitor, Network,
    NeuronModel, Number, ODE, Population, Settings, Statement, SynapseModel, Text, Value,
    Variable, Word,
)
from .parse import collector_paused, parse
from ..resources import SpecFileError, import_roots, read_spec, resolve_import, stdlib_dir

_MAX_EXPONENT = 64
_MAX_COUNT = 2**31 - 1  # sizes and indices: int32 on every target
_INPUT_KINDS = ("poisson", "spike_times", "events", "poisson_drive")
#: how a refractory period is counted (``refractory 2 ms as brian2``)
REFRACTORY_CONVENTIONS = ("nest", "brian2")
#: the refractoriness of a connection's neurons, read in on_pre: a condition (true while refractory)
REFRACTORY_READS = ("refractory_pre", "refractory_post")


class Lowering:
    """Turns the trees of one spec (and its imports) into a Model."""

    def __init__(self, diags: Diagnostics):
        self.diags = diags
        self.file = ""
        self.scope: set[str] = set()
        self.names: dict[str, Loc] = {}
        self.in_setting = False  # lists are values of settings, not parts of equations
        self.definitions: dict[str, dict[str, tuple[lark.Tree, str]]] = {
            k: {} for k in ("neuron", "synapse", "network", "simulate", "train")
        }
        self.texts: list[str] = []
        self._suffix: dict[str, int] = {}  # base name -> the suffix its last free name got (connections)
        self._synapse_suffix: dict[str, int] = {}  # the same for the synapse models of connections
        self._units: dict[str, Optional[sympy.Expr]] = {}  # unit name -> its SI expression (None: no unit)

    # ---- files and imports ------------------------------------------------
    def load_file(self, path: Path, seen: set[Path], importer: Optional[Loc] = None) -> None:
        if importer is None:  # the spec itself: its folder (and --include) bounds what it may import
            self.roots = import_roots(path)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):  # a loop of symbolic links: read_spec says so
            resolved = None
        if resolved in seen:
            return
        seen.add(resolved)
        file = display_path(path) if resolved is not None else str(path)
        try:
            text = read_spec(path).decode("utf-8-sig")  # a byte-order mark is not part of the text
        except SpecFileError as e:  # missing, a folder, a device or FIFO (never opened), over 10 MiB
            loc = importer or Loc(file=file, line=1, column=1)
            self.diags.error(loc, f"cannot read '{file}': {e}")
            return
        except UnicodeDecodeError as e:
            self.diags.error(Loc(file=file, line=1, column=1), f"the file is not UTF-8 text ({e.reason} at byte {e.start})")
            return
        self.texts.append(text)
        names: list[lark.Token] = []
        tree = parse(text, file, self.diags, names)
        if tree is None:
            return
        self.file = file
        if any(map(_reserved, {t.value for t in names})):  # each reported, in the order of the tree
            for node in tree.iter_subtrees():  # iterative: a deeply nested expression must not overflow the stack
                for token in node.children:
                    if isinstance(token, lark.Token) and token.type in ("NAME", "DERIV"):
                        self._check_name(token)
        for item in tree.children:
            if item.data == "import_stmt":
                self._import(item, path, seen)
                self.file = file
            else:
                self._define(item, file)

    def _import(self, item: lark.Tree, path: Path, seen: set[Path]) -> None:
        name = str(item.children[0])[1:-1]
        loc = self.loc(item)
        found, why = resolve_import(name, path, self.roots)
        if found is not None:
            self.load_file(found, seen, loc)
            return
        if why == "imports itself":
            self.diags.error(loc, f"'{name}' imports itself")
            return
        if why:  # outside the allowed folders, or not a regular file: nothing of it is read
            self.diags.error(loc, f"cannot import '{name}': {why}")
            return
        available = sorted(p.name for p in stdlib_dir().glob("*.snn"))
        self.diags.error(loc, f"cannot find '{name}' beside this file or in the standard library"
                         + did_you_mean(name, available))

    def _define(self, item: lark.Tree, file: str) -> None:
        kind = item.data
        name = str(item.children[0])
        table = self.definitions[kind]
        if name in table:
            first = self.loc(table[name][0].children[0], table[name][1])
            self.diags.error(self.loc(item.children[0]), f"duplicate definition of {kind} '{name}' (first defined at {first})")
            return
        table[name] = (item, file)

    def loc(self, node, file: Optional[str] = None) -> Loc:
        if isinstance(node, Token):
            return Loc(file or self.file, node.line or 1, node.column or 1)
        meta = node.meta  # (empty, without a line, for a tree of no tokens)
        return Loc(file or self.file, getattr(meta, "line", None) or 1, getattr(meta, "column", None) or 1)

    # ---- the model ----------------------------------------------------------
    def model(self, source: str) -> Model:
        digest = hashlib.sha256("\0".join(self.texts).encode()).hexdigest()[:16]
        neurons = {n: self._in_file(f, self.neuron, t) for n, (t, f) in self.definitions["neuron"].items()}
        synapses = {n: self._in_file(f, self.synapse, t) for n, (t, f) in self.definitions["synapse"].items()}
        self.neurons, self.synapses = neurons, synapses
        networks = {n: self._in_file(f, self.network, t) for n, (t, f) in self.definitions["network"].items()}
        sims = {n: self._in_file(f, self.settings, t) for n, (t, f) in self.definitions["simulate"].items()}
        trains = {n: self._in_file(f, self.settings, t) for n, (t, f) in self.definitions["train"].items()}
        return Model(source=source, spec_hash=digest, neurons=neurons, synapses=synapses,
                     networks=networks, simulations=sims, trainings=trains)

    def _in_file(self, file: str, method, tree):
        self.file = file
        return method(tree)

    # ---- neurons ------------------------------------------------------------
    def neuron(self, tree: lark.Tree) -> NeuronModel:
        self.scope = _declared_names(tree)
        parts: dict = {"parameters": [], "state": [], "inputs": [], "aliases": [], "odes": [],
                       "update": [], "reset": []}
        single: dict = {}
        for part in tree.children[1:]:
            kind = part.data
            if kind in ("parameters", "state", "inputs"):
                parts[kind] += [self.variable(d, {"parameters": "parameter", "inputs": "input"}.get(kind, kind))
                                for d in part.children]
            elif kind == "equations":
                for eq in part.children:
                    if eq.data == "ode":
                        parts["odes"].append(self.ode(eq))
                    else:
                        parts["aliases"].append(self.variable(eq, "alias"))
            elif kind in ("update", "reset"):
                parts[kind] += [self.statement(s) for s in part.children]
            elif self._once(single, part):
                if kind == "spike":
                    single["threshold"] = self.expr_of(part.children[0])
                elif kind == "refractory":
                    single["refractory"] = self.expr_of(part.children[0])
                    single["refractory_in_steps"] = part.children[1] is not None
                    single["refractory_convention"] = self._refractory_convention(
                        part.children[2].children[0] if len(part.children) > 2 else None)
                elif kind == "method":
                    single["method"] = str(part.children[1])
                    single["method_loc"] = self.loc(part.children[1])
        self._no_duplicates(parts["parameters"] + parts["state"] + parts["inputs"] + parts["aliases"])
        return NeuronModel(name=str(tree.children[0]), loc=self.loc(tree.children[0]),
                           parameters=tuple(parts["parameters"]), state=tuple(parts["state"]),
                           inputs=tuple(parts["inputs"]), aliases=tuple(parts["aliases"]),
                           odes=tuple(parts["odes"]), update=tuple(parts["update"]),
                           reset=tuple(parts["reset"]), **single)

    def _refractory_convention(self, token: Optional[lark.Token]) -> str:
        """``refractory t_ref as brian2``: how the period is counted (nest, the default, or brian2)."""
        if token is None:
            return "nest"
        if str(token) not in REFRACTORY_CONVENTIONS:
            self.diags.error(self.loc(token), f"unknown refractory convention '{token}'; write 'as nest' (held "
                                              "round(t_ref/dt) steps after the spike, the default) or 'as brian2' "
                                              "(one step fewer, as Brian2 counts)"
                             + did_you_mean(str(token), REFRACTORY_CONVENTIONS))
            return "nest"
        return str(token)

    def _once(self, seen: dict, part: lark.Tree) -> bool:
        key = {"spike": "threshold"}.get(part.data, part.data)
        if key in seen:
            self.diags.error(self.loc(part), f"a second '{part.data}' section; a model has at most one")
            return False
        return True

    def _no_duplicates(self, variables: list[Variable]) -> None:
        first: dict[str, Variable] = {}
        for v in variables:
            if v.name in first:
                self.diags.error(v.loc, f"duplicate definition of '{v.name}' (first defined at line {first[v.name].loc.line})")
            else:
                first[v.name] = v

    def variable(self, decl: lark.Tree, kind: str) -> Variable:
        name_tok, value = decl.children
        if self._check_name(name_tok) and str(name_tok) in BUILTINS:
            self.diags.error(self.loc(name_tok), f"'{name_tok}' is a built-in name ({BUILTINS[str(name_tok)]}); "
                                                 "choose another name")
        return Variable(name=str(name_tok), kind=kind, value=self.expr_of(value), loc=self.loc(name_tok))

    def ode(self, tree: lark.Tree) -> ODE:
        deriv, rhs, unless = tree.children
        var = re.fullmatch(r"d(\w+)/dt", str(deriv)).group(1)
        return ODE(var=var, rhs=self.expr_of(rhs), unless_refractory=unless is not None, loc=self.loc(deriv))

    def statement(self, tree: lark.Tree) -> Statement:
        if tree.data == "assign":
            target, value = tree.children
            op = "="
        else:
            target, op_tok, value = tree.children
            op = str(op_tok)
        self._check_name(target)
        expr = self.expr_of(value)
        if _is_condition(expr.value):  # n_post += refractory_pre: a condition counts as 1 or 0
            try:
                expr = expr.model_copy(update={"value": _numeric(expr.value)})
            except _REFUSED_BY_SYMPY as e:
                self.diags.error(expr.loc, f"invalid expression: {_short(e)}")
                expr = expr.model_copy(update={"value": Poison("error")})
        return Statement(target=str(target), op=op, value=expr, loc=self.loc(target))

    # ---- synapses -----------------------------------------------------------
    def synapse(self, tree: lark.Tree) -> SynapseModel:
        self.scope = _declared_names(tree)
        fields: dict = {k: [] for k in ("parameters", "state", "aliases", "odes", "pre", "pre_odes",
                                          "post", "post_odes", "inputs", "on_pre", "on_post")}
        single: dict = {}
        for part in tree.children[1:]:
            kind = part.data
            if kind in ("parameters", "state", "inputs"):
                fields[kind] += [self.variable(d, {"parameters": "parameter", "inputs": "input"}.get(kind, kind))
                                 for d in part.children]
            elif kind == "equations":
                for eq in part.children:
                    if eq.data == "ode":
                        fields["odes"].append(self.ode(eq))
                    else:
                        fields["aliases"].append(self.variable(eq, "alias"))
            elif kind in ("pre_traces", "post_traces"):
                side = kind[:-7]
                self._traces(part, side, fields)
            elif kind in ("on_pre", "on_post"):
                fields[kind] += [self.statement(s) for s in part.children]
            elif self._once(single, part):
                single["method"] = str(part.children[1])
                single["method_loc"] = self.loc(part.children[1])
        self._no_duplicates(fields["parameters"] + fields["state"] + fields["aliases"] + fields["pre"] + fields["post"]
                            + fields["inputs"])
        return SynapseModel(name=str(tree.children[0]), loc=self.loc(tree.children[0]),
                            **{k: tuple(v) for k, v in fields.items()}, **single)

    def _traces(self, part: lark.Tree, side: str, fields: dict) -> None:
        """``pre { dx/dt = -x/tau }``: per-neuron state; a trace without a declaration starts at 0."""
        declared = {str(item.children[0]) for item in part.children if item.data == "decl"}
        for item in part.children:
            if item.data == "decl":
                fields[side].append(self.variable(item, side))
            else:
                ode = self.ode(item)
                fields[f"{side}_odes"].append(ode)
                if ode.var not in declared:
                    zero = Expr(value=sympy.Integer(0), loc=ode.loc)
                    fields[side].append(Variable(name=ode.var, kind=side, value=zero, loc=ode.loc))

    # ---- networks -----------------------------------------------------------
    def network(self, tree: lark.Tree) -> Network:
        pops, inputs, conns, mons = [], [], [], []
        taken: set[str] = set()  # connection names of this network
        self._suffix = {}
        constants = self._network_constants(tree)
        parts = tree.children
        for k in range(1, len(parts)):
            part = parts[k]
            parts[k] = None  # the tree is used once: a block of many lines does not keep it and its model at once
            if part.data == "decl":  # a constant: read above
                continue
            if part.data == "population":
                pops.append(self.population(part))
            elif part.data == "input":
                found = self.input(part)
                if found is not None:
                    inputs.append(found)
            elif part.data == "connect":
                conns += self.connect(part, taken)
            elif part.data == "monitor":
                mons += self.monitor(part)
        mons = _synapse_monitors(mons, pops + inputs, conns)
        seen: dict[str, Loc] = {}
        for item in pops + inputs:
            if item.name in seen:
                self.diags.error(item.loc, f"duplicate population '{item.name}' (first defined at line {seen[item.name].line})")
            seen[item.name] = item.loc
        fixed, self.net_constants, self.constant_defs, self.fixed_constants = self.fixed_constants, {}, {}, {}
        return Network(name=str(tree.children[0]), populations=tuple(pops), inputs=tuple(inputs),
                       connections=tuple(conns), monitors=tuple(mons), loc=self.loc(tree.children[0]),
                       constants=constants, fixed_constants=fixed)

    def population(self, tree: lark.Tree) -> Population:
        name, neuron, size_tree, *decls = tree.children
        model = self.neurons.get(str(neuron))
        with self._inlined(f"the size of population '{name}'"):
            size = self.count(size_tree, "a population size")  # (with no names in scope)
        self.scope = {v.name for v in model.variables()} if model else set()  # the overrides see the model
        overrides = tuple(self.assignment(d) for d in decls if d is not None)
        return Population(name=str(name), neuron=str(neuron), size=size, overrides=overrides,
                          loc=self.loc(name), neuron_loc=self.loc(neuron))

    def count(self, tree: lark.Tree, what: str) -> int:
        """A positive whole number known when the spec is built."""
        self.scope = set()
        expr = self.expr_of(tree)
        value = expr.value
        if value.is_Integer and 0 < int(value) <= _MAX_COUNT:
            return int(value)
        if not isinstance(value, Poison):
            self.diags.error(expr.loc, f"{what} must be a whole number from 1 to {_MAX_COUNT}, not {_shown(value)}")
        return 1

    def assignment(self, decl: lark.Tree) -> Assignment:
        name_tok, value = decl.children
        self._check_name(name_tok)
        return Assignment(name=str(name_tok), value=self.expr_of(value), loc=self.loc(name_tok))

    def input(self, tree: lark.Tree) -> Optional[Input]:
        name, call_tree = tree.children
        call_tree = _drive_target(call_tree)  # poisson_drive(target = exc.v, ...): the target as a name
        with self._inlined(f"an argument of input '{name}'"):
            value = self.value(call_tree)
        if not isinstance(value, Call) or value.name not in _INPUT_KINDS:
            got = value.name if isinstance(value, Call) else "a value"
            self.diags.error(self.loc(call_tree), f"unknown input kind '{got}'; inputs are "
                             + ", ".join(f"{k}(...)" for k in _INPUT_KINDS) + did_you_mean(got, _INPUT_KINDS))
            return None
        value, file_size = self._spike_files(value)  # spike_times(file = ...): found, read and checked
        size = file_size or _input_size(value)
        if size is None:
            self.diags.error(value.loc, _INPUT_SIZE_HELP[value.name])
            size = 1
        return Input(name=str(name), kind=value.name, size=size, spec=value, loc=self.loc(name))

    def _spike_files(self, call: Call) -> tuple[Call, Optional[int]]:
        """``spike_times(file = "spikes.npz")`` or ``spike_times(times = "t.npy", indices = "i.npy")``:
        each file found as an import is (beside the spec, then --include; docs/safety.md), read and
        checked now (errors at its argument). The call keeps each file's resolved path; the size is
        ``n``, else the largest index + 1. (None: not a file input, or refused.)"""
        from .spikefile import DataFileError, read_spike_train, resolve_data

        named = {k: v for k, v in call.kwargs.items() if k in ("file", "times", "indices") and isinstance(v, Text)}
        if call.name != "spike_times" or not named:
            return call, None
        if "file" in named and (set(call.kwargs) & {"times", "indices"}):
            self.diags.error(call.loc, "spike_times() takes file = \"spikes.npz\", or times and indices, not both")
            return call, None
        if "file" not in named and set(named) != {"times", "indices"}:
            self.diags.error(call.loc, 'spike_times() reads its spikes from file = "spikes.npz", or from two .npy files: '
                                       'times = "times.npy", indices = "indices.npy"')
            return call, None
        n = _input_size(call) if "n" in call.kwargs else None
        files = {}
        try:
            for key, text in named.items():
                files[key] = (resolve_data(text.value, Path(self.file), self.roots), text.value)
            times, indices = read_spike_train(files, n)
        except DataFileError as e:
            where = named.get(e.argument, next(iter(named.values())))
            self.diags.error(where.loc, str(e))
            return call, 1  # (refused: no other error on its size)
        kwargs = {**call.kwargs, **{k: Text(value=str(path.resolve()), loc=named[k].loc) for k, (path, _) in files.items()}}
        size = n or (int(indices.max()) + 1 if indices.size else None)
        if size is None:
            self.diags.error(named.get("file", named.get("indices")).loc, "the file holds no spike: give n = ... "
                             "for the number of neurons")
        return call.model_copy(update={"kwargs": kwargs}), size

    def connect(self, tree: lark.Tree, taken: set[str]) -> list[Connection]:
        source_sel, targets, using, *items = tree.children
        source, source_range = self._selection(source_sel)
        synapse = self.synapses.get(str(using)) if using is not None else None
        scope = {v.name for v in synapse.variables()} if synapse else set()
        for item in items:
            if item is not None and item.data == "decl":
                scope.add(str(item.children[0]))
        self.scope = scope
        settings: dict = {"pattern": "all_to_all"}
        overrides: list[Assignment] = []
        events: dict[str, list[Statement]] = {"on_pre": [], "on_post": []}
        for item in items:
            if item is None:
                continue
            if item.data == "decl":
                setting = str(item.children[0])
                if setting == "p":  # (p and delay need no Assignment: only their values are kept)
                    settings.update(pattern="probability", p=self.expr_of(item.children[1]))
                elif setting == "delay":
                    settings["delay"] = self.expr_of(item.children[1])
                else:
                    a = self.assignment(item)
                    if a.name == "indegree":
                        self._connect_setting(a, settings)
                    else:
                        overrides.append(a)
            elif item.data == "pattern":
                word = str(item.children[0])
                if word not in ("all_to_all", "one_to_one"):
                    self.diags.error(self.loc(item), f"unknown connection pattern '{word}'; use all_to_all, one_to_one, "
                                     "p = ..., indegree = ... or if ..." + did_you_mean(word, ["all_to_all", "one_to_one"]))
                else:
                    settings["pattern"] = word
            elif item.data == "from_file":
                settings.update(pattern="file", file=self._from_file(item))
            elif item.data == "condition":
                settings["condition"] = self.expr_of(item.children[0])
            else:
                events[item.data] += [self.statement(s) for s in item.children]
        if using is None:
            self._file_weight(settings, overrides)
        conns = []
        here = self.loc(tree)
        for target_sel in targets.children:
            target, target_range = self._selection(target_sel)
            name = self._free_name(f"{source}_{target}", taken)
            if synapse is None and using is None:
                syn_name = self._fresh_synapse_name(name)
                self._anonymous_synapse(syn_name, overrides, events, here)
                conn_overrides = ()
            else:
                syn_name = str(using)
                conn_overrides = tuple(overrides)
                if synapse is not None and (events["on_pre"] or events["on_post"]):
                    syn_name = self._fresh_synapse_name(f"{name}__{syn_name}")
                    self.synapses[syn_name] = synapse.model_copy(update={
                        "name": syn_name,
                        "on_pre": synapse.on_pre + tuple(events["on_pre"]),
                        "on_post": synapse.on_post + tuple(events["on_post"])})
            conns.append(Connection(
                name=name, source=str(source), target=str(target), synapse=syn_name,
                source_range=source_range, target_range=target_range,
                overrides=conn_overrides, loc=here, source_loc=self.loc(source),
                target_loc=self.loc(target), synapse_loc=self.loc(using) if using is not None else None,
                **settings))
        return conns

    def _selection(self, tree: lark.Tree) -> tuple[lark.Token, Optional[tuple[int, Optional[int]]]]:
        """``exc`` or ``cells[0:3200]``: the population and the slice, if any (the step must be 1)."""
        name, index = tree.children
        if index is None:
            return name, None
        if index.data == "single":
            k = int(index.children[0])
            return name, (k, k + 1)
        start, stop, step = index.children
        if step is not None and int(step) != 1:
            self.diags.error(self.loc(step), "a connection takes a contiguous slice: [start:stop]")
        return name, (int(start) if start is not None else 0, int(stop) if stop is not None else None)

    def _fresh_synapse_name(self, name: str) -> str:
        """A name for a connection's own synapse model that no other synapse model has (in any network)."""
        return self._free_name(name, self.synapses, self._synapse_suffix)

    def _free_name(self, base: str, taken, suffixes: Optional[dict[str, int]] = None) -> str:
        """``base``, else the first of ``base_2``, ``base_3``, ... not in ``taken`` (which it joins,
        when a set). Names are only ever added to ``taken``, so the search for a base goes on
        from where its last one stopped: n connections between the same two populations take
        n steps, not n**2 / 2."""
        suffixes = self._suffix if suffixes is None else suffixes
        k = suffixes.get(base)
        k, name = (1, base) if k is None else (k + 1, f"{base}_{k + 1}")  # (base_k is taken: the last given)
        while name in taken:
            k += 1
            name = f"{base}_{k}"
        if k > 1:  # (a base given once, the commonest, is not remembered: the next search starts at 1)
            suffixes[base] = k
        if isinstance(taken, set):
            taken.add(name)
        return name

    def _connect_setting(self, a: Assignment, settings: dict) -> None:
        """``indegree = K`` (p and delay are read in connect)."""
        a = self._inline_constants(a, "the indegree of a connection")
        value = a.value.value
        if value.is_Integer and 0 < int(value) <= _MAX_COUNT:
            settings.update(pattern="indegree", indegree=int(value))
        elif not isinstance(value, Poison):
            self.diags.error(a.value.loc, f"indegree must be a whole number from 1 to {_MAX_COUNT}, not {_shown(value)}")

    def _anonymous_synapse(self, name: str, overrides, events, loc: Loc) -> None:
        state = tuple(Variable(name=a.name, kind="state", value=a.value, loc=a.loc) for a in overrides)
        self.synapses[name] = SynapseModel(name=name, loc=loc, state=state,
                                           on_pre=tuple(events["on_pre"]), on_post=tuple(events["on_post"]))

    # ---- network constants and data files --------------------------------------------------
    #: the constants of the network being lowered: name -> value in SI, every constant it uses
    #: replaced by its value (empty outside a network block: no other text sees them)
    net_constants: dict = {}
    #: name -> its value as written, in the earlier constants it uses (K = 2 * J: 2*J)
    constant_defs: dict = {}
    #: constant -> why it is fixed when the package is built (its first structural use)
    fixed_constants: dict = {}
    #: set while lowering a place that decides structure: constants there are replaced by their values
    inline_reason: Optional[str] = None

    def _network_constants(self, tree: lark.Tree) -> tuple[Constant, ...]:
        """``J = 0.1 mV`` in a network block, in order: each a number with units, from numbers,
        units and the constants above it. Lowered before the rest of the block, so populations,
        connections, inputs and monitors may use them wherever they are written."""
        self.net_constants, self.constant_defs, self.fixed_constants = {}, {}, {}
        found: list[Constant] = []
        first: dict[str, Loc] = {}
        for part in tree.children[1:]:
            if part.data != "decl":
                continue
            name_tok, value_tree = part.children
            name, loc = str(name_tok), self.loc(name_tok)
            if not self._check_name(name_tok):
                continue
            if name in BUILTINS:
                self.diags.error(loc, f"'{name}' is a built-in name ({BUILTINS[name]}); choose another name")
                continue
            if name.endswith(("_pre", "_post")):
                self.diags.error(loc, f"'{name}': a network constant cannot end in _pre or _post (those "
                                      "names reach the neurons of a connection)")
                continue
            if name in first:
                self.diags.error(loc, f"duplicate definition of constant '{name}' (first defined at line {first[name].line})")
                continue
            self.scope = set()
            expr = self.expr_of(value_tree)  # earlier constants as names: K = 2 * J stays 2*J
            value = expr.value
            folded = value.xreplace({symbol(k): v for k, v in self.net_constants.items()})
            first[name] = loc
            if isinstance(value, Poison):
                continue
            unknown = sorted(n for n in expr.names if n not in self.net_constants)
            if unknown:
                bad = unknown[0]
                self.diags.error(expr.names[bad], f"'{bad}': a network constant is a number with units, made of "
                                 "numbers, units and the constants above it" + did_you_mean(bad, list(self.net_constants)))
                continue
            if is_random(folded) or not _is_constant(folded) or isinstance(folded, Boolean):
                self.diags.error(expr.loc, f"constant '{name}' must be a number with units (such as 0.1 mV), "
                                           f"not {_shown(value)}")
                continue
            self.net_constants[name] = folded
            self.constant_defs[name] = value
            found.append(Constant(name=name, value=expr, loc=loc))
        return tuple(found)

    def _constant_ref(self, name: str, token: lark.Token) -> sympy.Basic:
        """A constant named in an expression: its value where the expression decides structure
        (fixing the constant when the package is built), else its name (a run-time value)."""
        if self.inline_reason is not None:
            self._fix(name, self.inline_reason)
            return self.net_constants[name]
        self.names.setdefault(name, self.loc(token))
        return symbol(name)

    def _fix(self, name: str, reason: str) -> None:
        """``name`` and every constant its value uses are fixed at build (the first reason stays)."""
        self.fixed_constants.setdefault(name, reason)
        for other in self.constant_defs.get(name, sympy.S.Zero).free_symbols:
            if other.name in self.constant_defs and other.name not in self.fixed_constants:
                self._fix(other.name, f"{reason} (through constant '{name}')")

    @contextlib.contextmanager
    def _inlined(self, reason: str):
        """Inside: constants are replaced by their values, fixed at build for ``reason``."""
        saved, self.inline_reason = self.inline_reason, reason
        try:
            yield
        finally:
            self.inline_reason = saved

    def _inline_constants(self, a: Assignment, reason: str) -> Assignment:
        """An assignment lowered with constants as names, with their values put in (indegree = K)."""
        if not a.value.constants:
            return a
        for name in a.value.constants:
            self._fix(name, reason)
        value = a.value.value.xreplace({symbol(n): self.net_constants[n] for n in a.value.constants})
        names = {n: l for n, l in a.value.names.items() if n not in a.value.constants}
        return a.model_copy(update={"value": Expr(value=value, loc=a.value.loc, names=names)})

    def _from_file(self, item: lark.Tree) -> FileSource:
        """``from_file("edges.npz")``: found beside the file that writes it, else in an --include
        folder; a file outside those folders, or not a regular file, is refused unread."""
        token = item.children[0]
        name, loc = str(token)[1:-1], self.loc(token)
        found, why = resolve_data(name, Path(self.file), getattr(self, "roots", None))
        if found is None:
            self.diags.error(loc, f"cannot read '{name}': {why}")
            return FileSource(name=name, loc=loc)
        try:
            edges = read_edges(str(found))
        except DataFileError as e:
            self.diags.error(loc, f"'{name}': {e}")
            return FileSource(name=name, loc=loc)
        return FileSource(name=name, path=str(found), weights=edges.w is not None, delays=edges.delay is not None,
                          loc=loc)

    def _file_weight(self, settings: dict, overrides: list[Assignment]) -> None:
        """A connection of its own synapse (no ``using``) whose file gives weights, and that does
        not declare ``w``: ``w`` is a pure number per synapse (``on_pre: v_post += w * mV``)."""
        file = settings.get("file")
        if file is not None and file.weights and not any(a.name == "w" for a in overrides):
            zero = Expr(value=sympy.Integer(0), loc=file.loc)
            overrides.append(Assignment(name="w", value=zero, loc=file.loc))

    def monitor(self, tree: lark.Tree) -> list[Monitor]:
        names, *rest = tree.children
        every_tree = rest[-1]
        selections = rest[:-1]
        self.scope = set()
        with self._inlined("the period of a monitor"):
            every = self.expr_of(every_tree.children[0]) if every_tree is not None else None
        variables = tuple(str(n) for n in names.children if str(n) != "spikes")
        out = []
        for sel in selections:
            pop, index = sel.children
            bounds: dict = {}
            if index is not None:
                if index.data == "single":
                    k = int(index.children[0])
                    bounds = {"start": k, "stop": k + 1}
                else:
                    start, stop, step = (int(c) if c is not None else None for c in index.children)
                    bounds = {"start": start, "stop": stop, "step": step}
            common = dict(population=str(pop), loc=self.loc(tree), population_loc=self.loc(pop), **bounds)
            if any(str(n) == "spikes" for n in names.children):
                out.append(Monitor(kind="spikes", **common))
            if variables:
                out.append(Monitor(kind="state", variables=variables, every=every, **common))
        return out

    # ---- simulate and train ---------------------------------------------------
    def settings(self, tree: lark.Tree) -> Settings:
        values: dict[str, Value] = {}
        locs: dict[str, Loc] = {}
        for decl in tree.children[1:]:
            key, value = decl.children
            if str(key) in values:
                self.diags.error(self.loc(key), f"'{key}' is set twice (first at line {locs[str(key)].line})")
                continue
            values[str(key)] = self.value(value)
            locs[str(key)] = self.loc(key)
        return Settings(name=str(tree.children[0]), values=values, locs=locs, loc=self.loc(tree.children[0]))

    def value(self, tree) -> Value:
        """A setting: a number with units, a bare word, a string, a list, or a call."""
        loc = self.loc(tree)
        if isinstance(tree, lark.Tree):
            if tree.data == "name" and not units.is_unit(str(tree.children[0])) \
                    and str(tree.children[0]) not in self.net_constants:  # a constant is its value
                self._check_name(tree.children[0])
                return Word(value=str(tree.children[0]), loc=loc)
            if tree.data == "string":
                return Text(value=str(tree.children[0])[1:-1], loc=loc)
            if tree.data == "list":
                return ListValue(items=tuple(self.value(c) for c in tree.children if c is not None), loc=loc)
            if tree.data == "call":
                func, *args = tree.children
                if func.data != "name":
                    self.diags.error(loc, "only a named setting such as adam(...) can be called here")
                    return Word(value="?", loc=loc)
                self._check_name(func.children[0])
                pos, kw = [], {}
                for a in args:
                    if a is None:
                        continue
                    if isinstance(a, lark.Tree) and a.data == "kwarg":
                        if str(a.children[0]) in kw:
                            self.diags.error(self.loc(a.children[0]), f"'{a.children[0]}' is given twice")
                        kw[str(a.children[0])] = self.value(a.children[1])
                    else:
                        pos.append(self.value(a))
                return Call(name=str(func.children[0]), args=tuple(pos), kwargs=kw, loc=loc)
        self.scope = set()
        self.in_setting = True
        try:
            expr = self.expr_of(tree)
        finally:
            self.in_setting = False
        if isinstance(expr.value, sympy.Tuple):  # a list with a unit: [1, 2, 3] ms
            return ListValue(items=tuple(self._constant(Expr(value=item, loc=loc)) for item in expr.value.args), loc=loc)
        return self._constant(expr)

    def _constant(self, expr: Expr) -> Value:
        loc = expr.loc
        try:
            found = constant_value(expr.value)
        except DimensionError as e:
            self.diags.error(loc, str(e))
            found = None
        if found is None:
            if not isinstance(expr.value, Poison):
                self.diags.error(loc, "expected a constant such as 0.1 ms, a name, a list or a call")
            return Word(value="?", loc=loc)
        number, dimension = found
        return Number(value=number, dim=dimension, is_int=bool(expr.value.is_Integer), loc=loc)

    # ---- expressions ----------------------------------------------------------
    def expr_of(self, tree) -> Expr:
        """An Expr with the place of the expression and of each name in it."""
        self.names = {}
        try:
            value = self.expr(tree)
        except RecursionError:
            self.diags.error(self.loc(tree), "expression nested too deeply")
            value = Poison("error")
        not_finite, out_of_range = _bad_numbers(value) if not isinstance(value, Poison) else (False, False)
        if not_finite:
            self.diags.error(self.loc(tree), "this expression has no finite real value "
                                             "(a division by zero, log(0), or the root of a negative number)")
            value = Poison("error")
        elif out_of_range:
            self.diags.error(self.loc(tree), f"a number in this expression is out of range (from 1e-{_MAX_DECADE} "
                                             f"to 1e{_MAX_DECADE} in SI units)")
            value = Poison("error")
        names = self.names  # (the next expression starts a dictionary of its own)
        if not names:
            return Expr(value=value, loc=self.loc(tree))
        return Expr(value=value, loc=self.loc(tree), names=names,
                    constants=frozenset(n for n in names if n in self.net_constants and n not in self.scope))

    def expr(self, tree) -> sympy.Basic:
        method = _EXPRESSIONS.get(tree.data)  # Lowering.x_<tree name>
        if method is None:  # a construct that only has a meaning elsewhere (kwarg, slice)
            self.diags.error(self.loc(tree), "this is not allowed in an expression")
            return Poison("error")
        try:
            return method(self, tree)
        except _REFUSED_BY_SYMPY as e:
            # SymPy refuses a combination (e.g. a list times a boolean, a condition of a condition
            # of a random number in arithmetic: exp(pi < rand()) < v).
            self.diags.error(self.loc(tree), f"invalid expression: {_short(e)}")
            return Poison("error")

    def x_number(self, tree) -> sympy.Basic:
        return self._number(tree.children[0])

    def _number(self, token: lark.Token) -> sympy.Basic:
        text = str(token)
        mantissa, _, exponent = text.lower().partition("e")
        if len(mantissa) > 40 or (exponent and abs(int(exponent)) > _MAX_DECADE):
            self.diags.error(self.loc(token), f"number {text} is out of range")
            return Poison("error")
        return _decimal(mantissa, exponent)

    def x_quantity(self, tree) -> sympy.Basic:
        magnitude, unit_tok = tree.children
        unit = self._unit(str(unit_tok))
        if unit is None:
            self.diags.error(self.loc(unit_tok), f"unknown unit '{unit_tok}'" + did_you_mean(str(unit_tok), units.unit_names()))
            return Poison("error")
        if isinstance(magnitude, lark.Token):
            return _times_unit(self._number(magnitude), unit)
        return sympy.Tuple(*[_times_unit(item, unit) for item in self.expr(magnitude).args])

    def _unit(self, name: str) -> Optional[sympy.Expr]:
        """The SI expression of a unit name (None: not a unit), built once per name."""
        if name not in self._units:
            self._units[name] = unit_expr(name)
        return self._units[name]

    def x_name(self, tree) -> sympy.Basic:
        token = tree.children[0]
        name = str(token)
        if not self._check_name(token):
            return Poison("error")
        if name in REFRACTORY_READS and name not in self.scope:  # a condition: not refractory_post, where(...)
            self.names.setdefault(name, self.loc(token))
            return sympy.Gt(symbol(name), 0)
        if name in self.scope or name in BUILTINS or name.endswith(("_pre", "_post")):
            if name == "pi" and name not in self.scope:
                return sympy.pi
            self.names.setdefault(name, self.loc(token))
            return symbol(name)
        if name in self.net_constants:  # a constant of the network being lowered (before units: g = 5)
            return self._constant_ref(name, token)
        unit = self._unit(name)
        if unit is not None:
            return unit
        self.names.setdefault(name, self.loc(token))
        return symbol(name)

    def x_string(self, tree) -> sympy.Basic:
        self.diags.error(self.loc(tree), "a string is not allowed in an expression")
        return Poison("error")

    def x_list(self, tree) -> sympy.Basic:
        if not self.in_setting:
            self.diags.error(self.loc(tree), "a list is not allowed in an expression; lists are values of "
                                             "settings such as times = [1, 2] ms")
            return Poison("error")
        return sympy.Tuple(*[self.expr(c) for c in tree.children if c is not None])

    def x_binop(self, tree) -> sympy.Basic:
        left, op, right = tree.children
        a, b = _numeric(self.expr(left)), _numeric(self.expr(right))
        if _is_zero_quantity(a) or _is_zero_quantity(b):
            return self._zero_binop(a, str(op), b, op)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if b == 0:
            self.diags.error(self.loc(op), "division by zero")
            return Poison("error")
        return a / b

    def _zero_binop(self, a: sympy.Basic, op: str, b: sympy.Basic, op_tok) -> sympy.Basic:
        """Arithmetic with ``0 mV`` that keeps the zero's unit where it still says something:
        ``0 mV/ms`` is a zero in V/s, ``v + 0 ms`` a sum the checker can reject."""
        if op == "+":
            return sympy.Add(a, b, evaluate=False)
        if op == "-":
            return sympy.Add(a, b if _is_zero_quantity(b) else -b, evaluate=False)
        if op == "/" and (b == 0 or _is_zero_quantity(b)):
            self.diags.error(self.loc(op_tok), "division by zero")
            return Poison("error")
        zero, other = (a, b) if _is_zero_quantity(a) else (b, a)
        if not _is_constant(other):
            return a * b if op == "*" else a / b
        unit = zero.args[1] * other if op == "*" else zero.args[1] / other
        return _times_unit(sympy.S.Zero, unit)

    def x_unary(self, tree) -> sympy.Basic:
        op, operand = tree.children
        value = _numeric(self.expr(operand))
        return -value if op == "-" and not _is_zero_quantity(value) else value

    def x_pow(self, tree) -> sympy.Basic:
        base, exponent = (_numeric(self.expr(c)) for c in tree.children)
        if exponent.is_Number and abs(exponent) > _MAX_EXPONENT:
            self.diags.error(self.loc(tree.children[1]), f"exponent {exponent} is too large (at most {_MAX_EXPONENT})")
            return Poison("error")
        zero = base == 0 or _is_zero_quantity(base)
        if zero and exponent.is_Number and exponent < 0:
            self.diags.error(self.loc(tree), "division by zero")
            return Poison("error")
        if _is_zero_quantity(base) and exponent.is_Number and exponent > 0:
            return _times_unit(sympy.S.Zero, base.args[1] ** exponent)
        return base ** exponent

    def x_compare(self, tree) -> sympy.Basic:
        left, op, right = tree.children
        a, b = self.expr(left), self.expr(right)
        rel = {"<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge, "==": sympy.Eq, "!=": sympy.Ne}[str(op)]
        # Numbers are compared now: SymPy cannot fold a Piecewise on an unevaluated 1 > 0.
        return rel(a, b, evaluate=a.is_Number is True and b.is_Number is True)

    def x_and_(self, tree) -> sympy.Basic:
        return self._logic(tree, "and", sympy.And)

    def x_or_(self, tree) -> sympy.Basic:
        return self._logic(tree, "or", sympy.Or)

    def x_not_(self, tree) -> sympy.Basic:
        return self._logic(tree, "not", sympy.Not)

    def _logic(self, tree, word: str, build) -> sympy.Basic:
        operands = [self.expr(c) for c in tree.children]
        for child, value in zip(tree.children, operands):
            if not (isinstance(value, Poison) or _is_condition(value)):
                self.diags.error(self.loc(child), f"'{word}' combines conditions such as v > 0, not a number")
                return Poison("error")
        if any(isinstance(v, Poison) for v in operands):
            return Poison("error")
        return build(*operands)

    def x_call(self, tree) -> sympy.Basic:
        func, *args = tree.children
        args = [a for a in args if a is not None]
        if func.data != "name":
            self.expr(func)  # reports what is wrong with the callee
            self.diags.error(self.loc(tree), "only the maths functions can be called")
            return Poison("error")
        token = func.children[0]
        name = str(token)
        if not self._check_name(token):
            return Poison("error")
        spec = FUNCTIONS.get(name)
        if spec is None:
            self.diags.error(self.loc(token), f"'{name}' is not a function a spec may call"
                             + did_you_mean(name, FUNCTIONS))
            return Poison("error")
        if any(isinstance(a, lark.Tree) and a.data == "kwarg" for a in args):
            self.diags.error(self.loc(tree), f"{name}() takes its arguments by position")
            return Poison("error")
        if len(args) not in spec.nargs:
            want = " or ".join(str(n) for n in spec.nargs)
            self.diags.error(self.loc(token), f"{name}() takes {want} argument{'s' if spec.nargs != (1,) else ''}, not {len(args)}")
            return Poison("error")
        values = [self.expr(a) for a in args]
        if name == "where" and not (_is_condition(values[0]) or isinstance(values[0], Poison)):
            self.diags.error(self.loc(args[0]), "where() takes a condition first, such as where(v > 0 mV, a, b)")
            return Poison("error")
        first = 1 if name == "where" else 0  # a condition elsewhere counts as 1 or 0
        return spec.build(*values[:first], *[_numeric(v) for v in values[first:]])

    def x_getattr(self, tree) -> sympy.Basic:
        self.expr(tree.children[0])
        self.diags.error(self.loc(tree.children[1]), f"attribute access ('.{tree.children[1]}') is not allowed in a spec")
        return Poison("error")

    def x_getitem(self, tree) -> sympy.Basic:
        self.diags.error(self.loc(tree), "indexing is not allowed in an expression")
        return Poison("error")

    def _check_name(self, token: lark.Token) -> bool:
        """Names that could reach Python's internals or break generated code are refused."""
        if not _reserved(token):
            return True
        name = str(token)
        if token.type == "DERIV":
            name = name[1:-3]
        if name.startswith("__") or name.endswith("__"):
            self.diags.error(self.loc(token), f"'{name}': names starting or ending with '__' are reserved")
            return False
        if keyword.iskeyword(name):
            self.diags.error(self.loc(token), f"'{name}' is a reserved word (of Python, which the generated code is); "
                                              "choose another name")
            return False
        return True


#: the method that lowers each kind of expression tree (x_number for a "number" tree, ...)
_EXPRESSIONS = {name[2:]: method for name, method in vars(Lowering).items() if name.startswith("x_")}


@lru_cache(maxsize=4096)  # a spec repeats its names
def _reserved(text: str) -> bool:
    """A name (or a derivative ``dv/dt``: no name has a '/') :meth:`Lowering._check_name` refuses:
    ``__`` at either end, or a word of Python."""
    name = text[1:-3] if text.endswith("/dt") else text
    return name.startswith("__") or name.endswith("__") or keyword.iskeyword(name)


_NOT_FINITE = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I)
_MAX_DECADE = 300
_LARGEST = 10**_MAX_DECADE


def _bad_numbers(value: sympy.Basic) -> tuple[bool, bool]:
    """Whether ``value`` holds a number with no finite real value (zoo, nan, oo, I), and whether
    it holds a rational out of range (:func:`_in_range`): one walk over its leaves."""
    if value.is_Rational:  # a number, the commonest expression
        return False, not _in_range(value)
    if value.is_Mul and value.args[0].is_Rational and all(
            isinstance(u, BaseUnit) or (u.is_Pow and isinstance(u.args[0], BaseUnit) and u.args[1].is_Integer
                                        and -_MAX_EXPONENT <= int(u.args[1]) <= _MAX_EXPONENT) for u in value.args[1:]):
        return False, not _in_range(value.args[0])  # a quantity (whole exponents of units are in range)
    not_finite = out_of_range = False
    stack = [value]
    while stack:
        node = stack.pop()
        args = node.args
        if args:
            stack.extend(args)
        elif node.is_Rational:
            out_of_range = out_of_range or not _in_range(node)
        elif any(node is special for special in _NOT_FINITE):
            not_finite = True
    return not_finite, out_of_range


def _in_range(n: sympy.Rational) -> bool:
    """A number a 64-bit float holds without overflow or underflow (0 aside): 1e-300 <= |p/q| <= 1e300."""
    p, q = abs(int(n.p)), int(n.q)
    if p.bit_length() < 990 and q.bit_length() < 990:  # both below 2**990 < 1e300: in range (the commonest)
        return True
    return p == 0 or (p <= _LARGEST * q and p * _LARGEST >= q)


def _decimal(mantissa: str, exponent: str) -> sympy.Rational:
    """The exact value of a number token (``12``, ``0.25``, ``.5``, ``2.``, ``1.5e-3``; the mantissa
    and the exponent after ``e``), as ``Fraction(text)`` reads it: its digits over a power of ten,
    in lowest terms."""
    whole, _, fraction = mantissa.partition(".")
    digits = int(whole + fraction)
    shift = int(exponent or 0) - len(fraction)
    if shift >= 0:
        return sympy.Integer(digits * 10**shift)
    denominator = 10**-shift
    common = math.gcd(digits, denominator)
    return sympy.Rational.from_coprime_ints(digits // common, denominator // common)


def _times_unit(magnitude: sympy.Basic, unit: sympy.Basic) -> sympy.Basic:
    """``magnitude * unit``; a zero keeps its unit (SymPy would fold ``0 * mV`` to 0), so that
    the checker reads ``0 nA`` as a current. Replacing the base units by 1, as the plan
    does, folds it to 0."""
    has_symbols, coeff, units_part, factors = _unit_parts(unit)
    zero = magnitude is sympy.S.Zero or (not magnitude.is_Rational and magnitude == 0)
    if zero and not isinstance(magnitude, Poison) and has_symbols:
        return sympy.Mul(sympy.S.Zero, unit, evaluate=False)
    if magnitude.is_Rational and factors is not None:
        # The product SymPy would build, without its general simplification (the most
        # expensive part of lowering a long list of quantities): a rational coefficient
        # first, then the base units in the unit's (already canonical) order.
        number = _product(magnitude, coeff)
        if not factors or number is sympy.S.Zero:
            return number
        if number is sympy.S.One:
            return units_part
        return sympy.Mul._from_args((number, *factors))
    return magnitude * unit


@lru_cache(maxsize=512)
def _unit_parts(unit: sympy.Basic) -> tuple[bool, sympy.Basic, sympy.Basic, Optional[tuple]]:
    """Of a unit's SI expression: whether it has symbols (base units), its rational coefficient,
    the product of base units, and those in order (None: not a rational times base units)."""
    coeff, units_part = unit.as_coeff_Mul()  # a number times a product of base units
    if not coeff.is_Rational or units_part.has(Poison):
        return bool(unit.free_symbols), coeff, units_part, None
    factors = () if units_part is sympy.S.One else units_part.args if units_part.is_Mul else (units_part,)
    return bool(unit.free_symbols), coeff, units_part, factors


def _product(a: sympy.Rational, b: sympy.Rational) -> sympy.Rational:
    """``a * b`` of two rationals, in lowest terms, as SymPy's product gives it."""
    p, q = int(a.p) * int(b.p), int(a.q) * int(b.q)
    common = math.gcd(p, q)
    return sympy.Rational.from_coprime_ints(p // common, q // common)


def _is_zero_quantity(value: sympy.Basic) -> bool:
    return isinstance(value, sympy.Mul) and len(value.args) == 2 and value.args[0] is sympy.S.Zero


def _is_constant(value: sympy.Basic) -> bool:
    """A number or a product of units: no names, no Poison."""
    return not (value.free_symbols - value.atoms(BaseUnit)) and not isinstance(value, sympy.Tuple)


def _is_condition(value: sympy.Basic) -> bool:
    """A comparison, a combination of comparisons, or true/false (a name is a number)."""
    return isinstance(value, Boolean) and not isinstance(value, sympy.Symbol)


def _numeric(value: sympy.Basic) -> sympy.Basic:
    """A condition used in arithmetic counts as 1 when true, 0 when false."""
    if _is_condition(value):
        return sympy.Piecewise((1, value), (0, True))
    return value


def _synapse_monitors(mons: list[Monitor], owners: list, conns: list[Connection]) -> list[Monitor]:
    """``monitor w of exc_exc``: a state monitor that names a connection (and no population or
    input) records a per-synapse variable of it; its index selects synapses."""
    neurons = {o.name for o in owners}
    synapses = {c.name for c in conns} - neurons
    return [m.model_copy(update={"kind": "synapses"}) if m.kind == "state" and m.population in synapses else m
            for m in mons]


def _declared_names(tree: lark.Tree) -> set[str]:
    """Names a neuron or synapse declares, collected before its expressions are built."""
    names = set()
    for node in tree.iter_subtrees():
        if node.data in ("decl", "alias"):
            names.add(str(node.children[0]))
        elif node.data == "ode":
            names.add(re.fullmatch(r"d(\w+)/dt", str(node.children[0])).group(1))
    return names


def _drive_target(tree):
    """``poisson_drive(target = exc.v, ...)``: the argument ``exc.v`` names a variable of a population,
    which an expression cannot (attribute access is refused there), so it is read here as the
    text "exc.v". Any other tree is returned as it is."""
    if not (isinstance(tree, lark.Tree) and tree.data == "call" and isinstance(tree.children[0], lark.Tree)
            and tree.children[0].data == "name" and str(tree.children[0].children[0]) == "poisson_drive"):
        return tree
    children = list(tree.children)
    for k, arg in enumerate(children[1:], 1):
        if isinstance(arg, lark.Tree) and arg.data == "kwarg" and str(arg.children[0]) == "target":
            value = arg.children[1]
            if (isinstance(value, lark.Tree) and value.data == "getattr" and isinstance(value.children[0], lark.Tree)
                    and value.children[0].data == "name"):
                pop, var = value.children[0].children[0], value.children[1]
                text = lark.Token("STRING", f'"{pop}.{var}"', line=pop.line, column=pop.column)
                string = lark.Tree("string", [text], meta=value.meta)
                children[k] = lark.Tree("kwarg", [arg.children[0], string], meta=arg.meta)
    return lark.Tree(tree.data, children, meta=tree.meta)


_INPUT_SIZE_HELP = {
    "poisson": "poisson() needs its size first: poisson(100, rate = 10 Hz)",
    "spike_times": "spike_times() needs indices = [...] and times = [...], or n = size",
    "events": "events() needs width = ... and height = ...",
    "poisson_drive": "poisson_drive() needs target = population.variable, N = ..., rate = ... and weight = ...",
}


def _input_size(call: Call) -> Optional[int]:
    def whole(v) -> Optional[int]:
        return int(v.value) if isinstance(v, Number) and v.is_int and 0 < v.value <= _MAX_COUNT else None

    if call.name == "poisson":
        return whole(call.args[0]) if call.args else whole(call.kwargs.get("n"))
    if call.name == "poisson_drive":
        return 0  # no neurons of its own: it adds to the neurons of its target
    if call.name == "spike_times":
        if "n" in call.kwargs:
            return whole(call.kwargs["n"])
        indices = call.kwargs.get("indices")
        if isinstance(indices, ListValue) and indices.items:
            values = [whole(Number(value=v.value + 1, dim=v.dim, is_int=v.is_int, loc=v.loc))
                      for v in indices.items if isinstance(v, Number)]
            return max(values) if values and None not in values and len(values) == len(indices.items) else None
        return None
    width, height = whole(call.kwargs.get("width")), whole(call.kwargs.get("height"))
    return 2 * width * height if width and height else None


def _shown(value: sympy.Basic) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: What SymPy raises when it cannot build an expression (KeyError: a Piecewise of a condition
#: on a random number, such as 1 + (v < exp(pi < rand()))).
_REFUSED_BY_SYMPY = (TypeError, ValueError, AttributeError, ZeroDivisionError, OverflowError, KeyError)


def _short(e: Exception) -> str:
    if isinstance(e, KeyError):  # SymPy's own bookkeeping: its message says nothing to the user
        return "a condition SymPy cannot turn into a number (1 when true, 0 when false)"
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:120]


def lower_file(path: Path, diags: Diagnostics) -> Optional[Model]:
    """Parse and lower a spec and its imports; None if the files could not be parsed at all."""
    lowering = Lowering(diags)
    try:
        with collector_paused():
            lowering.load_file(path, set())
            if not lowering.texts:
                return None
            return lowering.model(display_path(path))
    except RecursionError:
        diags.error(Loc(file=display_path(path), line=1, column=1), "the spec is nested too deeply")
        return None
