"""Plasticity on the c target: event statements (``on_pre`` beyond adding a weight, ``on_post``),
traces (stepped, or decayed when read), synapse equations and synapse inputs, printed as C
from the plan's statements so that step.c computes what the NumPy target computes, bit for bit.

The functions here take the emitter (``e``: a :class:`~snnlang.backends.c.CEmitter`); source.py's
``print_EvalSynapseInputs``, ``print_DecayTraces``, ``print_IntegrateSynapses``,
``print_PostEvents`` and ``deliver`` (for a connection with no linear fast path) call them, and
host.py's prologue calls :func:`host_prologue` for what the host computes once a run.

Order. The NumPy target runs an event's statements one after the other, each over every
spiking neuron (``x[spk] = ...``) or every synapse of their rows (``w[syn] = ...``). step.c
runs them neuron after neuron: for each spiking neuron its statements in order, a statement on
synapses over that neuron's row (``on_pre``) or column (``on_post``, through the
``by_post``/``post_ptr`` index the host builds once). The two orders give the same values: a
statement of one neuron reads that neuron's values on its own side and its own synapses,
which no other neuron's statements write. Where a statement reads or writes what an earlier
statement scatters into neurons, or what an earlier per-spike statement wrote at another
index, the event is cut into passes there (each pass over all spiking neurons). A scatter
(``I_post += w``) adds into a scratch sum per neuron, in synapse order, which is then added
to the target: NumPy's ``target += bincount(index, weights)``, rounding for rounding.

Bit for bit. libm's ``exp``, ``expm1`` and ``pow`` differ from NumPy's (SIMD) in the last bit
on some inputs. So what NumPy computes from run constants is computed by NumPy on the host:
the constants of traces and synapse equations, scalar temporaries made of parameters (the
rate of ``phi1``), and every call of a function on run constants inside a statement (the
``phi1(dt * rate)`` of an eligibility trace) becomes a real of the host. A trace decayed on
read, ``decay**(step - last)``, reads a table of ``decay**k`` that NumPy computes on the host
(``_powers`` in network.py: at most 2**20 entries, ending where the powers reach 0; beyond, libm's
``pow``). Functions of per-step or per-synapse values stay libm's: the ``(w_max - w)**mu`` of
Diehl & Cook's rule, an ``exp`` of ``t`` in a synapse equation (docs/native.md).

Threads. Events run on one thread in the NumPy target's order (their scatters meet in shared
neurons, and a partition by target would change the order of the sums); stepped traces and
synapse equations, element by element, run in parallel over elements above
``PARALLEL_MIN``: each element is computed alone, so the results do not depend on threads.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import sympy

from ...frontend.functions import symbol
from ...plan.ir import Assign, ConnectionPlan, EventStatement, Plan
from ..cupy.kernel import names_in
from ..lines import Lines
from .source import PARALLEL_MIN  # the threads of every loop start at one size
from ..printer import CudaPrinter, numpy_code

STEP = symbol("step")


# ---- what the plan says, per connection ----------------------------------------------------------

@dataclass
class Names:
    """Each name the statements of a connection may read, by kind."""

    synapse: set[str] = field(default_factory=set)  # per synapse: state, pre traces kept per synapse, delays
    traces: dict[str, str] = field(default_factory=dict)  # per-neuron trace (and its step of last update) -> side
    integers: set[str] = field(default_factory=set)  # arrays of int64 (steps of last updates, delays)
    neurons: dict[str, str] = field(default_factory=dict)  # a variable of a population -> side (pre, post)
    constant: set[str] = field(default_factory=set)  # one number a run: parameters, constants of the schemes
    inputs: set[str] = field(default_factory=set)  # synapse inputs: one number a step


def _names(plan: Plan, c: ConnectionPlan) -> Names:
    found = Names()
    per_synapse = set(c.per_synapse_traces)
    found.synapse |= set(c.state) | per_synapse
    for tr in c.traces:
        if tr.size == "n_syn":
            found.synapse.add(tr.name)
        else:
            found.traces[tr.name] = c.trace_side.get(tr.name) or c.indexed.get(tr.name)
        if tr.dtype == "int":
            found.integers.add(tr.name)
    if c.delay_array:
        found.synapse.add(c.delay_array)
        found.integers.add(c.delay_array)
    pops = {p.name: p for p in plan.populations}
    for n, ix in c.indexed.items():
        if ix in ("pre", "post") and n not in found.traces and n not in found.synapse:
            found.neurons[n] = ix
    found.constant = {prm.name for prm in c.params} | {a.target for a in c.trace_constants + c.syn_constants} | {"dt"}
    for side in (c.source, c.target):
        pop = pops.get(side)
        if pop is not None:
            per_neuron = _per_neuron_constants(pop)
            found.constant |= {prm.name for prm in pop.params if prm.value is not None}
            found.constant |= {a.target for a in pop.constants if a.target not in per_neuron}
    found.inputs = {a.name for a in c.inputs} | {d.name for d in c.input_draws}
    return found


def _per_neuron_constants(pop) -> set[str]:
    """Constants of a population made from per-neuron parameters (arrays; source.per_neuron_constants)."""
    varying = {prm.name for prm in pop.params if prm.value is None}
    out = set()
    for a in pop.constants:
        if names_in(a.expr) & varying:
            varying.add(a.target)
            out.add(a.target)
    return out


def _host_temporaries(c: ConnectionPlan, names: Names) -> list[Assign]:
    """Temporaries of the stepped traces and synapse equations made of run constants only (the
    rate of a phi1): computed by NumPy on the host, once a run, as the NumPy target computes them."""
    arrays = names.synapse | set(names.traces) | set(names.neurons)
    assigned = Counter(a.target for a in c.trace_decay + c.syn_integrate)
    constant = set(names.constant)
    out = []
    for a in c.trace_decay + c.syn_integrate:
        if a.target not in arrays and assigned[a.target] == 1 and a.where is None and names_in(a.expr) <= constant:
            out.append(a)
            constant.add(a.target)
    return out


def _on_pre(c: ConnectionPlan) -> list[EventStatement]:
    """The on_pre statements this module prints (a linear effect is source.py's delivery)."""
    return c.on_pre if c.linear is None else []


def _is_scatter(st: EventStatement, event: str) -> bool:
    return st.side not in (event, "synapse")


# ---- what the c target refuses of plasticity (refuse.py) ---------------------------------------

def problems(plan: Plan) -> list[tuple[str, str, str]]:
    """(kind, name, message) of each construct of plasticity that step.c does not print."""
    found = []
    pops = {p.name for p in plan.populations}
    for c in plan.connections:
        names = _names(plan, c)
        spec = {q: v for v, q in c.local.items()}  # the spec's names in messages

        def said(which: set[str]) -> str:
            return ", ".join(sorted(spec.get(n, n) for n in which))

        hosted = {a.target for a in _host_temporaries(c, names)}
        known = (names.synapse | set(names.traces) | set(names.neurons) | names.constant | names.inputs | hosted
                 | {"step", "t"})
        issues = []
        for event, statements in (("pre", _on_pre(c)), ("post", c.on_post)):
            for st in statements:
                unknown = names_in(st.expr) - known
                if unknown:
                    issues.append(f"an on_{event} statement reads {said(unknown)}")
                if st.side == event:
                    other = {n for n in names_in(st.expr) if n in names.synapse
                             or (n in names.neurons and names.neurons[n] != event)
                             or (n in names.traces and names.traces[n] != event)}
                    if other:
                        issues.append(f"a statement of on_{event} run once per spiking neuron "
                                      f"({spec.get(st.target, st.target)}) reads the per-synapse or other side's "
                                      f"values {said(other)}")
                elif _is_scatter(st, event):
                    owner = c.target if st.index == "post" else c.source
                    if owner not in pops and st.target not in names.traces:
                        issues.append(f"on_{event} adds to {spec.get(st.target, st.target)} of {owner}, "
                                      "which is not a population")
        temps = {a.target for a in c.trace_decay + c.syn_integrate}
        for what, statements in (("the equations of its traces", c.trace_decay),
                                 ("its synapse equations", c.syn_integrate)):
            for a in statements:
                if a.where is not None:
                    issues.append(f"{what} hold a value under a condition")
                unknown = names_in(a.expr) - known - temps
                if unknown:
                    issues.append(f"{what} read {said(unknown)}")
        if c.trace_decay and _trace_sides(c, names) is None:
            issues.append("a statement of its trace equations mixes the pre and post sides (or per-synapse traces)")
        if c.linear is not None and names_in(c.linear[1]) & names.inputs:
            issues.append(f"the weight it adds reads the synapse input {said(names_in(c.linear[1]) & names.inputs)}")
        for issue in dict.fromkeys(issues):
            found.append(("connection", c.name, f"connection {c.name} ({c.synapse}): {issue}, which the c target "
                          "does not print; use --target numpy"))
    return found


# ---- the emitter's record of what the host computes ------------------------------------------

@dataclass
class _Connection:
    c: ConnectionPlan
    names: Names
    host: list[tuple[str, str]] = field(default_factory=list)  # (name, NumPy expression) once a run, in order
    hoisted: dict = field(default_factory=dict)  # a call on run constants (sympy node) -> its host real
    powers: dict[str, tuple[str, str, set[str]]] = field(default_factory=dict)  # decay -> (table, size, last arrays)
    inputs: bool = False  # its synapse inputs are tabulated for the steps of a run


def _prepare(e, c: ConnectionPlan) -> _Connection:
    """What the host computes for a connection (once per emitter): the constants of its traces and
    equations, temporaries of run constants, calls on run constants, tables of decay powers."""
    known = e.__dict__.setdefault("_plastic", {})
    if c.name in known:
        return known[c.name]
    names = _names(e.plan, c)
    info = known[c.name] = _Connection(c, names)
    for a in c.trace_constants + c.syn_constants:
        info.host.append((a.target, numpy_code(a.expr)))
    temporaries = _host_temporaries(c, names)
    for a in temporaries:
        info.host.append((a.target, numpy_code(a.expr)))
        names.constant.add(a.target)
    hosted = {a.target for a in temporaries}
    exprs = [a.expr for a in c.trace_decay + c.syn_integrate if a.target not in hosted]
    exprs += [st.expr for st in _on_pre(c) + c.on_post]
    for expr in exprs:
        for node in _calls(expr, names.constant):
            if node not in info.hoisted:
                name = e.n(c.name, f"const{len(info.hoisted) + 1}")
                info.hoisted[node] = name
                info.host.append((name, numpy_code(node)))
        for node in sympy.preorder_traversal(expr):
            if _decayed(node, names):
                factor = node.base.name
                if factor not in info.powers:
                    info.powers[factor] = (e.n(factor, "powers"), e.n(factor, "powers_size"), set())
                info.powers[factor][2].update(names_in(node.exp) - {"step"})  # the steps of last update read
    for factor, (table, size, _) in info.powers.items():
        e.array(table, "real", table)
        e.integer(size, f"{table}.size")
    return info


def _calls(expr, constant: set[str]):
    """The calls of functions (and powers of non-integer exponent) in expr that read run constants
    only, outermost first; not those inside another."""
    if expr.is_Atom:
        return
    libm = (isinstance(expr, sympy.Function) and not isinstance(expr, sympy.Piecewise)) or \
        (expr.is_Pow and not expr.exp.is_Integer and expr.exp != sympy.Rational(1, 2))
    if libm and names_in(expr) <= constant:
        yield expr
        return
    for arg in expr.args:
        yield from _calls(arg, constant)


def _decayed(node, names: Names) -> bool:
    """decay**(step - last): a trace read decayed to this step (the plan's decay on read)."""
    return (node.is_Pow and node.base.is_Symbol and node.base.name in names.constant
            and STEP in node.exp.free_symbols)


class _Printer(CudaPrinter):
    """The c target's expressions, with what the host computed: a call on run constants is its
    host real, ``decay**(step - last)`` a read of the host's table of powers."""

    def __init__(self, e, indexed: dict[str, str], info: _Connection, arrays: dict[str, str]):
        super().__init__(indexed, "double")
        self.e = e
        self.info = info
        self.tables = arrays  # decay -> (C table, C size)

    def _print(self, expr, **kwargs):
        name = self.info.hoisted.get(expr) if isinstance(expr, sympy.Basic) else None
        if name is not None:
            self.e.real(name, name)  # step.c receives it from the host
            return name
        return super()._print(expr, **kwargs)

    def _print_Pow(self, expr, rational=False):
        if _decayed(expr, self.info.names) and expr.base.name in self.tables:
            table, size = self.tables[expr.base.name]
            return f"snnpowk({table}, {size}, {expr.base.name}, (long long)({self._print(expr.exp)}))"
        return super()._print_Pow(expr, rational=rational)


def _printer(e, info: _Connection, indexed: dict[str, str]) -> _Printer:
    tables = {f: (f"d_{table}", size) for f, (table, size, _) in info.powers.items()}
    return _Printer(e, indexed, info, tables)


def _declare(e, info: _Connection, names: set[str], written: set[str] = frozenset()) -> None:
    """Register the arrays and reals that statements of a connection read or write."""
    c, kinds = info.c, info.names
    for n in sorted(names | set(written)):
        w = n in written
        if n in kinds.synapse or n in kinds.traces:
            _state(e, n, "long long" if n in kinds.integers else "real", w)
        elif n in kinds.neurons:
            pop = e.pops[c.source if kinds.neurons[n] == "pre" else c.target]
            e.declare(pop, {n}, {n} if w else set())
            _writable(e, f"d_{n}", w)
        elif n in kinds.constant:
            e.real(n, n)
        elif n == "t":
            e.real("dt", "dt")


def _state(e, key: str, ctype: str, written: bool) -> str:
    cname = e.state(key, ctype, written)
    _writable(e, cname, written)
    return cname


def _read(info: _Connection, *exprs) -> set[str]:
    """The names step.c reads in expressions (not those inside a call the host computes)."""
    out: set[str] = set()

    def visit(node):
        if node in info.hoisted:
            return
        if node.is_Symbol:
            out.add(node.name)
        for arg in node.args:
            visit(arg)

    for expr in exprs:
        visit(expr)
    return out


def _writable(e, cname: str, written: bool) -> None:
    """An array registered read-only first becomes writable when a later statement writes it."""
    if written:
        for k, slot in enumerate(e.slots):
            if slot[0] == cname and not slot[3]:
                e.slots[k] = (slot[0], slot[1], slot[2], True)


def _time(out: Lines, exprs, e) -> None:
    """const real t = step * dt, in the scope of statements that read t."""
    if "t" in names_in(*exprs):
        e.real("dt", "dt")
        out("const real t = (real)step * dt;")


# ---- phase 1: synapse inputs -------------------------------------------------------------------

def synapse_inputs(e, out: Lines, c: ConnectionPlan) -> None:
    """One value a step for the whole connection, read from the table the host makes for the
    steps of a run (the override's expression evaluated by NumPy, or what set_input gave)."""
    info = _prepare(e, c)
    info.inputs = True
    first = e.integer(e.n(c.name, "inputs_from"), "start")
    for a in c.inputs:
        table = e.array(e.n(a.name, "table"), "real", e.n(a.name, "table"))
        out(f"const real {a.name} = {table}[step - {first}];  // {c.name}.{e.spec_name.get(a.name, a.name)} this step")


# ---- phase 2: traces that are stepped ----------------------------------------------------------

def _trace_sides(c: ConnectionPlan, names: Names):
    """The side (pre, post, syn) of each statement of the stepped traces, or None where one mixes them."""
    side_of = {**names.neurons, **names.traces, **{n: "syn" for n in c.per_synapse_traces}}
    sides = {}
    for a in c.trace_decay:
        found = {side_of.get(n) or sides.get(n) for n in names_in(a.expr) | {a.target} if n in side_of or n in sides}
        found.discard("scalar")  # a temporary of one number a step goes with any side
        if len(found) > 1:
            return None
        sides[a.target] = found.pop() if found else "scalar"
    return sides


def decay_traces(e, out: Lines, c: ConnectionPlan) -> None:
    """The traces that are stepped advance by dt: a loop per side over its traces."""
    info = _prepare(e, c)
    sides = _trace_sides(c, info.names)
    hosted = {name for name, _ in info.host}
    statements = [a for a in c.trace_decay if a.target not in hosted]
    with _scope(out):
        out(f"// {c.name}: its stepped traces advance by dt ({c.synapse})")
        _time(out, [a.expr for a in statements], e)
        _scalars(e, out, info, [a for a in statements if sides[a.target] == "scalar"])
        for side, what in (("pre", "presynaptic traces"), ("post", "postsynaptic traces"),
                           ("syn", "presynaptic traces kept per synapse")):
            part = [a for a in statements if sides[a.target] == side]
            if not part:
                continue
            traces = [n for n in dict.fromkeys([a.target for a in part] + sorted(names_in(*(a.expr for a in part))))
                      if n in info.names.traces or n in info.names.synapse]
            size = _size(e, c, side)
            with _scope(out):
                out(f"const long long n = {size};  // {what}")
                indexed = {n: ("k" if ix == side else ix) for n, ix in c.indexed.items()}
                _elementwise(e, out, info, part, {n: "k" for n in traces}, indexed, "k", "n")


def _size(e, c: ConnectionPlan, side: str) -> str:
    if side == "syn":
        return e.integer(e.n(c.name, "n_syn"), f"s[{e.n(c.name, 'post')!r}].size")
    return str(e.sizes[c.source if side == "pre" else c.target])


def _scalars(e, out: Lines, info: _Connection, statements: list[Assign]) -> None:
    """Temporaries of one number a step (they read t or a synapse input): before the loop."""
    printer = _printer(e, info, {})
    for a in statements:
        _declare(e, info, _read(info, a.expr))
        out(f"const real {a.target} = {printer.doprint(a.expr)};")


def _elementwise(e, out: Lines, info: _Connection, statements: list[Assign], loaded: dict[str, str],
                 indexed: dict[str, str], index: str, size: str) -> None:
    """Statements element by element (k or syn): the arrays of ``loaded`` as locals (read at
    their index), the other arrays of ``indexed`` read at theirs (pre, post: the synapse's neurons)."""
    c, kinds = info.c, info.names
    read = _read(info, *(a.expr for a in statements))
    written = {a.target for a in statements if a.target in loaded}
    used = [n for n in loaded if n in read or n in written]
    _declare(e, info, read | set(used), written)
    indexed = {n: ix for n, ix in indexed.items() if n not in loaded}
    sides = sorted({indexed[n] for n in read if n in indexed} - {index, "syn"})
    printer = _printer(e, info, indexed)
    out(f"#pragma omp parallel for num_threads(threads) schedule(static) if({size} >= {PARALLEL_MIN})")
    with out.block(f"for (long long {index} = 0; {index} < {size}; {index}++)"):
        for side in sides:  # the neurons of the synapse
            out(f"const long long {side} = {_state(e, e.n(c.name, side), 'long long', False)}[{index}];")
        for n in used:
            ctype = "long long" if n in kinds.integers else "real"
            out(f"{ctype} {n} = d_{n}[{loaded[n]}];")
        declared = set(used)
        counts = Counter(a.target for a in statements)
        for a in statements:
            value = printer.doprint(a.expr)
            if a.target in declared:
                out(f"{a.target} = {value};")
            else:
                declared.add(a.target)
                out(f"{'' if counts[a.target] > 1 else 'const '}real {a.target} = {value};")
        for n in used:
            if n in written:
                out(f"d_{n}[{loaded[n]}] = {n};")


# ---- phase 3: synapse equations ----------------------------------------------------------------

def integrate_synapses(e, out: Lines, c: ConnectionPlan) -> None:
    """The synapse equations, one step for every synapse (each synapse alone: parallel)."""
    info = _prepare(e, c)
    hosted = {name for name, _ in info.host}
    statements = [a for a in c.syn_integrate if a.target not in hosted]
    per_synapse = set(info.names.synapse)
    scalars, rest = [], []
    for a in statements:  # what reads no synapse is one number a step
        element = per_synapse | set(info.names.neurons) | set(info.names.traces)
        if names_in(a.expr) & element or a.target in info.names.synapse:
            per_synapse.add(a.target)
            rest.append(a)
        else:
            scalars.append(a)
    with _scope(out):
        out(f"// {c.name}: its synapse equations ({c.synapse}), one step of every synapse")
        _time(out, [a.expr for a in statements], e)
        _scalars(e, out, info, scalars)
        n = _size(e, c, "syn")
        synapse_arrays = [x for x in dict.fromkeys([a.target for a in rest] + sorted(names_in(*(a.expr for a in rest))))
                          if x in info.names.synapse]
        _elementwise(e, out, info, rest, {x: "syn" for x in synapse_arrays}, dict(c.indexed), "syn", n)


# ---- phase 2 and 5: events ---------------------------------------------------------------------

def _passes(c: ConnectionPlan, statements: list[EventStatement], event: str) -> list[list[EventStatement]]:
    """The statements in passes over the spiking neurons: a new pass where one reads or writes what
    an earlier statement of the pass scatters, or what a per-spike statement wrote at another
    index (or writes per spike what an earlier one read at another index)."""
    passes: list[list[EventStatement]] = [[]]
    scattered, spike_written, read_elsewhere = set(), set(), set()
    for st in statements:
        reads = names_in(st.expr)
        elsewhere = {n for n in reads if c.indexed.get(n, event) != event}
        conflict = (reads | {st.target}) & scattered or elsewhere & spike_written \
            or (st.side == event and st.target in read_elsewhere)
        if conflict and passes[-1]:
            passes.append([])
            scattered, spike_written, read_elsewhere = set(), set(), set()
        passes[-1].append(st)
        read_elsewhere |= elsewhere
        if _is_scatter(st, event):
            scattered.add(st.target)
        elif st.side == event:
            spike_written.add(st.target)
    return [p for p in passes if p]


def deliver(e, out: Lines, c: ConnectionPlan, op) -> None:
    """on_pre of a connection without a linear fast path: its statements over the spiking
    neurons whose spikes arrive now and their rows of synapses (each delay group in turn)."""
    info = _prepare(e, c)
    src, N = c.source, e.sizes[c.source]
    all_pairs = op.strategy == "all_pairs"
    with _scope(out):
        out(f"// {c.name}: {c.source} -> {c.target}, on_pre of {c.synapse} ({op.strategy}"
            + (", one step of delay)" if op.last_step else ")"))
        _time(out, [st.expr for st in c.on_pre], e)
        if op.last_step:
            if not all_pairs:
                out(f"const long long* ptr = {_state(e, e.n(c.name, 'group_ptr'), 'long long', False)};")
            spikes = _list(e.n(src, "spk"), e.n(src, "count"), "pre")
            _event(e, out, info, c.on_pre, "pre", spikes, all_pairs)
            return
        delays = _state(e, e.n(c.name, "group_delay"), "long long", False)
        groups = e.integer(e.n(c.name, "groups"), f"s[{e.n(c.name, 'group_delay')!r}].size")
        history, rows = f"d_{e.n(src, 'history')}", e.n(src, "rows")
        with out.block(f"for (long long group = 0; group < {groups}; group++)  // each delay"):
            out(f"const long long d = {delays}[group];")
            if not all_pairs:
                ptr = _state(e, e.n(c.name, "group_ptr"), "long long", False)
                out(f"const long long* ptr = {ptr} + group * {c.pre_rows + 1};")
            out(f"const unsigned char* spk = {history} + ((step - d) % {rows} + {rows}) % {rows} * {N};")
            _event(e, out, info, c.on_pre, "pre", _row("spk", N, "pre"), all_pairs)


def post_events(e, out: Lines, c: ConnectionPlan, op) -> None:
    """on_post: its statements over this step's spikes of the target and their columns of synapses."""
    info = _prepare(e, c)
    with _scope(out):
        out(f"// {c.name}: on_post of {c.synapse}, the synapses onto the neurons of {c.target} that spiked"
            + (" (all pairs)" if op.all_pairs else " (by_post: the synapses of each neuron)"))
        _time(out, [st.expr for st in c.on_post], e)
        if not op.all_pairs:
            out(f"const long long* ptr = {_state(e, e.n(c.name, 'post_ptr'), 'long long', False)};")
        spikes = _list(e.n(c.target, "spk"), e.n(c.target, "count"), "post")
        _event(e, out, info, c.on_post, "post", spikes, op.all_pairs)


def _list(spk: str, count: str, event: str):
    """Spiking neurons from a list (this or last step's spikes of a population or source)."""
    @contextlib.contextmanager
    def loop(o: Lines):
        with o.block(f"for (long long m = 0; m < {count}; m++)"):
            o(f"const long long {event} = {spk}[m];")
            yield
    return loop, count


def _row(row: str, size: int, event: str):
    """Spiking neurons from a row of the spike history (a step of a delay group)."""
    @contextlib.contextmanager
    def loop(o: Lines):
        with o.block(f"for (long long {event} = 0; {event} < {size}; {event}++)"):
            o(f"if (!{row}[{event}]) continue;")
            yield
    return loop, None


def _event(e, out: Lines, info: _Connection, statements: list[EventStatement], event: str, spikes,
           all_pairs: bool) -> None:
    """The passes of an event over its spiking neurons, then each pass's scatters added to their targets."""
    c = info.c
    loop, count = spikes
    other = "post" if event == "pre" else "pre"
    passes = _passes(c, statements, event)
    if count is None:  # spikes of a history row: counted in the first pass
        out("long long arrived = 0;")
        count = "arrived"
    sums = 0
    for number, stmts in enumerate(passes):
        scatters = []
        for st in stmts:
            if _is_scatter(st, event):
                sums += 1
                per_synapse = bool(names_in(st.expr) & set(c.indexed))
                size = e.held_size(c.target) if st.index == "post" else c.pre_rows  # split: the neurons held here
                role = f"{event}_sum{sums}" if per_synapse else f"{event}_count{sums}"
                ctype, dtype = ("real", "np.float64") if per_synapse else ("long long", "np.int64")
                scratch = e.array(e.n(c.name, role), ctype, f"np.zeros({size}, dtype={dtype})", True)
                scatters.append((st, scratch, size, per_synapse))
        sum_of = {id(st): scratch for st, scratch, _, _ in scatters}
        if len(passes) > 1:
            out(f"// pass {number + 1} of {len(passes)}: " + "; ".join(f"{s.target} {s.op} ..." for s in stmts))
        with loop(out):
            if number == 0:
                if count == "arrived":
                    out("arrived++;")
                out("synops += " + _row_length(e, c, event, all_pairs) + ";")
            for kind, block in _blocks(stmts, event):
                if kind == "spike":
                    indexed = {n: event for n, ix in c.indexed.items() if ix == event}
                    printer = _printer(e, info, indexed)
                    for st in block:
                        _declare(e, info, _read(info, st.expr), {st.target})
                        out(f"d_{st.target}[{event}] = {printer.doprint(st.expr)};")
                    continue
                printer = _printer(e, info, dict(c.indexed))
                reads = names_in(*(st.expr for st in block))
                indices = {c.indexed.get(n) for n in reads} | {st.index for st in block if _is_scatter(st, event)}
                needs_other = other in indices
                with _synapses(e, out, c, event, all_pairs, needs_other):
                    for st in block:
                        value = printer.doprint(st.expr)
                        if st.side == "synapse":
                            _declare(e, info, _read(info, st.expr), {st.target})
                            out(f"d_{st.target}[syn] = {value};")
                        elif id(st) in sum_of and names_in(st.expr) & set(c.indexed):
                            _declare(e, info, _read(info, st.expr))
                            out(f"{sum_of[id(st)]}[{st.index}] += {value};  // {st.target} {st.op} its sum (below)")
                        else:
                            _declare(e, info, _read(info, st.expr))
                            out(f"{sum_of[id(st)]}[{st.index}]++;  // {st.target} {st.op} {value} times a count")
        for st, scratch, size, per_synapse in scatters:  # NumPy: target += bincount(index, weights, size)
            _declare(e, info, _read(info, st.expr) if not per_synapse else set(), {st.target})
            op = "-=" if st.op == "-=" else "+="
            with out.block(f"if ({count}) for (long long k = 0; k < {size}; k++)"):
                if per_synapse:
                    out(f"d_{st.target}[k] {op} {scratch}[k];")
                    out(f"{scratch}[k] = 0;")
                else:
                    value = _printer(e, info, {}).doprint(st.expr)
                    out(f"d_{st.target}[k] {op} {value} * (real){scratch}[k];")
                    out(f"{scratch}[k] = 0;")


def _row_length(e, c: ConnectionPlan, event: str, all_pairs: bool) -> str:
    if all_pairs:  # (split over processes: the target neurons held here)
        return e.held_size(c.target) if event == "pre" else str(c.n_pre)
    return f"ptr[{event} + 1] - ptr[{event}]"


def _blocks(statements: list[EventStatement], event: str):
    """Runs of statements: ("spike", ...) once for the spiking neuron, ("synapse", ...) over its synapses."""
    out: list[tuple[str, list[EventStatement]]] = []
    for st in statements:
        kind = "spike" if st.side == event else "synapse"
        if out and out[-1][0] == kind:
            out[-1][1].append(st)
        else:
            out.append((kind, [st]))
    return out


@contextlib.contextmanager
def _synapses(e, out: Lines, c: ConnectionPlan, event: str, all_pairs: bool, needs_other: bool):
    """The synapses of the spiking neuron: its row (pre) or column (post); syn and the other neuron."""
    if event == "pre":
        if all_pairs:  # synapse k * n_post + m joins k to m (split: n_post the target neurons held here)
            n_post = e.held_size(c.target)
            with out.block(f"for (long long post = 0; post < {n_post}; post++)"):
                out(f"const long long syn = pre * {n_post} + post;")
                yield
        else:
            with out.block("for (long long syn = ptr[pre]; syn < ptr[pre + 1]; syn++)"):
                if needs_other:
                    out(f"const long long post = {_state(e, e.n(c.name, 'post'), 'long long', False)}[syn];")
                yield
    else:
        if all_pairs:
            with out.block(f"for (long long pre = 0; pre < {c.n_pre}; pre++)"):
                out(f"const long long syn = post + {c.n_post} * pre;")
                yield
        else:
            by_post = _state(e, e.n(c.name, "by_post"), "long long", False)
            with out.block("for (long long k = ptr[post]; k < ptr[post + 1]; k++)"):
                out(f"const long long syn = {by_post}[k];")
                if needs_other:
                    out(f"const long long pre = {_state(e, e.n(c.name, 'pre'), 'long long', False)}[syn];")
                yield


@contextlib.contextmanager
def _scope(out: Lines):
    out("{")
    with out.block(None):
        yield


# ---- the host: once a run ----------------------------------------------------------------------

def host_prologue(e, out: Lines) -> None:
    """Python of the host's prologue (before the reals): the constants of traces and synapse
    equations and the calls on run constants (NumPy's values), tables of decay powers, and the
    synapse inputs of the steps of this run."""
    for c in e.plan.connections:
        info = e.__dict__.get("_plastic", {}).get(c.name)
        if info is None:
            continue
        if info.host:
            out(f"# {c.name}: constants of its traces and equations, computed as the NumPy target computes them")
        for name, code in info.host:
            out(f"{name} = {code}")
        for factor, (table, _, lasts) in info.powers.items():
            oldest = ", ".join(f"int(s[{last!r}].min(initial=stop))" for last in sorted(lasts))
            oldest = f"min({oldest})" if len(lasts) > 1 else oldest
            out(f"{table} = _powers({factor}, stop + 1 - {oldest})  # {factor}**k for traces decayed on read")
        if info.inputs and c.inputs:
            _input_tables(e, out, c)


def _input_tables(e, out: Lines, c: ConnectionPlan) -> None:
    for a in c.inputs:
        key = f"{c.name}.{e.spec_name.get(a.name, a.name)}"
        table, outside = e.n(a.name, "table"), e.n(a.name, "outside")
        out(f"{outside} = self.inputs.get({key!r})  # {key}: one value a step, for steps start ... stop - 1")
        out(f"if {outside} is None:  # the override's expression, as the NumPy target evaluates it each step")
        with out.indent():
            out("steps_ = np.arange(start, stop)")
            out("t = steps_ * dt")
            for d in c.input_draws:
                out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, steps_, 0)")
            value = numpy_code(a.expr)
            out(f"{table} = np.ascontiguousarray(np.broadcast_to({value}, (stop - start,)), dtype=np.float64)")
        out("else:")
        with out.indent():
            out(f"{table} = np.array([rt.scalar_input_at({outside}, st, {key!r}) for st in range(start, stop)], "
                "dtype=np.float64)")
