"""The NumPy target: prints a Plan as a standalone, vectorised NumPy package.

Decisions live in the plan; this module only lays its statements out as
Python lines (through :mod:`.printer`) and fills the templates of
``templates/numpy/``.
"""
from __future__ import annotations

import re

import sympy

from ..functions import symbol
from ..plan.schedule import Deliver
from ..plan.ir import Assign, ConnectionPlan, EventStatement, Plan, PopulationPlan, SourcePlan
from .lines import Lines
from .printer import numpy_code

TARGET = "numpy"


def code(expr: sympy.Basic, indexed: dict[str, str] | None = None) -> str:
    return numpy_code(expr, indexed)


def _array(expr: sympy.Basic, size: str, indexed=None) -> str:
    """An expression as a fresh float array of the given size."""
    text = code(expr, indexed)
    if expr == 0:  # the usual default of an input: the cheapest fresh array
        return f"np.zeros({size})"
    if not (expr.free_symbols - {symbol("dt"), symbol("t")}):
        return f"np.full({size}, {text}, dtype=float)"
    return f"np.broadcast_to({text}, ({size},)).astype(float)"


def _assign(out: Lines, a: Assign, indexed=None) -> None:
    if a.where is None:
        out(f"{a.target} = {code(a.expr, indexed)}")
    else:
        out(f"{a.target} = np.where({a.where}, {code(a.expr, indexed)}, {a.target})")


def _bare(text: str) -> str:
    """Printed code without one pair of parentheses around all of it."""
    if text.startswith("(") and text.endswith(")"):
        depth = 0
        for k, ch in enumerate(text):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0:
                return text[1:-1] if k == len(text) - 1 else text
    return text


def _draws(out: Lines, draws, counter: str, index: str) -> None:
    for d in draws:
        out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, {counter}, {index})")


class NumpyEmitter:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.n = plan.symbols  # every name this target makes: n(owner, role)
        #: generated name -> the spec's name (for messages and comments)
        self.spec_name = {q: v for owner in plan.populations + plan.connections for v, q in owner.local.items()}
        self.pops = {p.name: p for p in plan.populations}
        self.sources = {s.name: s for s in plan.sources}
        self.conns = {c.name: c for c in plan.connections}
        self.sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
        schedule = plan.schedule
        #: connection -> how the plan delivers it (members of a stacked group: the group's delivery)
        self.route = {}
        for op in schedule.ops(Deliver):
            for name in op.group or (op.connection,):
                self.route[name] = op
        #: stacked groups by their first connection
        self.together = {op.connection: [self.conns[n] for n in op.group] for op in schedule.ops(Deliver) if op.group}
        self.delayed = {name for name, h in schedule.history.items() if h.every_step}

    def _gathered(self, c: ConnectionPlan) -> bool:
        """Delivered from each spiking neuron's list of targets (gathered or stacked)."""
        return c.name in self.route and self.route[c.name].strategy in ("gathered", "stacked")

    def _weighted(self, c: ConnectionPlan) -> bool:
        return c.name in self.route and self.route[c.name].weighted

    def index(self) -> str:
        """Network._index: each source neuron's targets, for the connections delivered by gathering."""
        out = Lines()
        out("self.targets = {}")
        for c in self.plan.connections:
            if not self._gathered(c) or self.route[c.name].connection != c.name:
                continue
            group = self.together.get(c.name, [c])
            if c.name in self.together:
                n, rows = self.pops[c.target].size, self.pops[c.target].propagator.variables
                out(f"# {', '.join(g.name for g in group)}: as index row * {n} + neuron in the stacked state of {c.target}")
                posts = ", ".join(f"s[{self.n(g.name, 'post')!r}] + {rows.index(g.linear[0]) * n}" for g in group)
            else:
                posts = f"s[{self.n(c.name, 'post')!r}]"
            pres = ", ".join(f"s[{self.n(g.name, 'pre')!r}]" for g in group)
            out(f"self.targets[{c.name!r}] = rt.rows_by_source([{pres}], [{posts}], {c.pre_rows})")
        if len(out.lines) > 1:
            out.lines.insert(0, "s = self.state")
        return out.text(2)

    def _stacked_weights(self, group: list[ConnectionPlan]) -> str:
        """What one spike adds to each stacked variable of the target, as one value per row."""
        target = self.pops[group[0].target]
        by_row = {c.linear[0]: code(c.linear[1]) for c in group}
        return ", ".join(by_row.get(v, "0.0") for v in target.propagator.variables)

    # ---- reset: initial state and connectivity ----------------------------------------
    def reset(self) -> str:
        out = Lines()
        for pop in self.plan.populations:
            out(f"# population {pop.name}: {pop.size} x {pop.neuron}")
            out(f"N = {pop.size}")
            out("i = np.arange(N)")
            for prm in pop.params:
                if prm.value is not None:
                    out(f"{prm.name} = p[{prm.key!r}]")
            for a in pop.arrays:
                _draws(out, a.draws, "0", "i")
                prm = next((x for x in pop.params if x.name == a.name), None)
                if prm is not None:
                    out(f"{a.name} = {_array(a.expr, 'N')} if p[{prm.key!r}] is None else np.full(N, p[{prm.key!r}])")
                else:
                    out(f"{a.name} = {_array(a.expr, 'N')}")
                out(f"s[{a.name!r}] = {a.name}")
            if pop.refractory is not None:
                out(f"s[{self.n(pop.name, 'refractory_until')!r}] = np.full(N, -1, dtype=np.int64)  # last refractory step")
            out()
        for src in self.plan.sources:
            if src.kind == "spike_times":
                out(f"# input {src.name}: spike times, as steps")
                out(f"steps_ = np.rint(np.array({src.times!r}) / dt).astype(np.int64)")
                out("order_ = np.argsort(steps_, kind='stable')")
                out(f"s[{self.n(src.name, 'event_step')!r}] = steps_[order_]")
                out(f"s[{self.n(src.name, 'event_index')!r}] = np.array({src.indices!r}, dtype=np.int64)[order_]")
            elif src.kind == "events":
                out(f"# input {src.name}: an event stream fed with feed_events()")
                out(f"s[{self.n(src.name, 'event_step')!r}] = np.zeros(0, dtype=np.int64)")
                out(f"s[{self.n(src.name, 'event_index')!r}] = np.zeros(0, dtype=np.int64)")
        for c in self.plan.connections:
            self.connect(out, c)
        out("# spike history of each source, as long as its longest outgoing delay")
        for name, size in self.sizes.items():
            history = self.plan.schedule.history[name]
            delays = [f"int(s[{a!r}].max(initial=1))" for a in history.delay_arrays]
            length = f"max({', '.join(delays)}, {history.steps})" if delays else str(history.steps)
            out(f"s[{self.n(name, 'history')!r}] = np.zeros(({length}, {size}), dtype=bool)")
        return out.prune().text(2)

    def connect(self, out: Lines, c: ConnectionPlan) -> None:
        out(f"# connection {c.name}: {c.source} -> {c.target} ({c.synapse}, {c.pattern}, {c.storage})")
        out(f"N_pre, N_post = {c.n_pre}, {c.n_post}")
        for prm in c.params:
            out(f"{prm.name} = p[{prm.key!r}]")
        if c.pattern == "all_to_all":
            out("pre, post = rt.all_to_all(N_pre, N_post)")
        elif c.pattern == "one_to_one":
            out("pre, post = rt.one_to_one(N_pre, N_post)")
        elif c.pattern == "indegree":
            out(f"pre, post = rt.fixed_indegree(seed, {c.connect_stream}, N_pre, N_post, {c.indegree})")
        elif c.p is not None and not ({s.name for s in c.p.free_symbols} & {"i", "j"}):
            out(f"pre, post = rt.fixed_probability(seed, {c.connect_stream}, N_pre, N_post, {code(c.p)})")
        else:
            out(f"pre, post = rt.pairwise_probability(seed, {c.connect_stream}, N_pre, N_post, "
                f"lambda i, j: {code(c.p)})")
        if c.condition is not None:
            out("i, j = pre, post  # the condition is on the pair's indices")
            out(f"keep = np.broadcast_to({code(c.condition)}, pre.shape)")
            out("pre, post = pre[keep], post[keep]")
        out("n_syn = pre.size")
        out("i, j, syn = pre, post, np.arange(n_syn)")
        for a in c.arrays:
            _draws(out, a.draws, "0", "syn")
            if a.dtype == "int":
                out(f"{a.name} = np.broadcast_to({code(a.expr)}, (n_syn,)).astype(np.int64)")
            else:
                out(f"{a.name} = {_array(a.expr, 'n_syn')}")
        shifts = [(side, offset) for side, offset in (("pre", c.pre_offset), ("post", c.post_offset)) if offset]
        if shifts:
            out(f"{', '.join(side for side, _ in shifts)} = {', '.join(f'{side} + {o}' for side, o in shifts)}"
                "  # slices: indices in the whole populations")
        if c.delay_array:
            delays = c.delay_array
        else:
            steps = str(int(c.delay)) if c.delay.is_Integer else f"int({code(c.delay)})"
            delays = f"np.full(n_syn, {steps}, dtype=np.int64)"
        out(f"order, s[{self.n(c.name, 'group_delay')!r}], s[{self.n(c.name, 'group_ptr')!r}] = rt.delay_groups({delays}, pre, {c.pre_rows})")
        out(f"s[{self.n(c.name, 'pre')!r}], s[{self.n(c.name, 'post')!r}] = pre[order], post[order]")
        for a in c.arrays:
            out(f"s[{a.name!r}] = {a.name}[order]")
        if c.on_post:
            out(f"s[{self.n(c.name, 'by_post')!r}] = np.argsort(post[order], kind='stable')")
            out(f"s[{self.n(c.name, 'post_ptr')!r}] = rt.row_pointers(post[order][s[{self.n(c.name, 'by_post')!r}]], {c.post_rows})")
        for tr in c.traces:
            size = tr.size
            if tr.dtype == "int":
                out(f"s[{tr.name!r}] = np.zeros({size}, dtype=np.int64)  # step of the last update")
                continue
            if size == "n_syn":  # a pre trace kept per synapse (per-synapse delays); i: its presynaptic neuron
                out(f"i = s[{self.n(c.name, 'pre')!r}] - {c.pre_offset}")
                _draws(out, tr.draws, "0", "np.arange(n_syn)")
            else:
                out(f"i = np.arange({size})")
                _draws(out, tr.draws, "0", "i")
            out(f"s[{tr.name!r}] = {_array(tr.expr, size)}")
        out()

    # ---- one step ------------------------------------------------------------------------------
    def prologue(self, uses: str = "") -> str:
        """Parameters, constants and state of one run; ``uses``: the code that reads them."""
        out = Lines()
        for pop in self.plan.populations:
            out(f"# {pop.name}: parameters, constants of the {pop.method} scheme, state")
            for prm in pop.params:
                if prm.value is None:
                    out(f"{prm.name} = s[{prm.name!r}]")
                else:
                    out(f"{prm.name} = p[{prm.key!r}]")
            for a in pop.constants:
                _assign(out, a)
            for name in pop.state:
                out(f"{name} = s[{name!r}]")

            if pop.refractory is not None:
                self.refractory_prologue(out, pop)
            if pop.propagator is not None:
                self.stack(out, pop)
            if pop.inputs or any(d for d in pop.input_draws):
                out(f"{self.n(pop.name, 'index')} = np.arange({pop.size})")
            for a in pop.inputs:
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({pop.name + '.' + self.spec_name[a.name]!r})")
        for src in self.plan.sources:
            out(f"# input {src.name} ({src.kind})")
            if src.kind == "poisson":
                out(f"{self.n(src.name, 'index')} = np.arange({src.size})")
                out(f"{self.n(src.name, 'from')}, {self.n(src.name, 'u')} = start, np.zeros((0, {src.size}))  # uniforms of steps from ...")
                if src.rate_key:
                    out(f"{self.n(src.name, 'rate_outside')} = self.inputs.get({src.rate_key!r})  # rates set from outside")
                    out(f"{self.n(src.name, 'rate_fixed')} = rt.constant_input({self.n(src.name, 'rate_outside')}, {src.size})")
                    out(f"{self.n(src.name, 'p')} = ({code(src.rate)} if {self.n(src.name, 'rate_fixed')} is None else {self.n(src.name, 'rate_fixed')}) "
                        "* dt  # spike probability per step")
                else:
                    out(f"{self.n(src.name, 'p')} = {code(src.rate)} * dt  # spike probability per step")
            else:
                out(f"{self.n(src.name, 'event_step')} = s[{self.n(src.name, 'event_step')!r}]")
                out(f"{self.n(src.name, 'event_index')} = s[{self.n(src.name, 'event_index')!r}]")
        for c in self.plan.connections:
            header = len(out.lines)
            out(f"# {c.name}: {c.synapse}")
            for prm in c.params:
                out(f"{prm.name} = p[{prm.key!r}]")
            for a in c.inputs:
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({c.name + '.' + self.spec_name[a.name]!r})")
            for a in c.trace_constants + c.syn_constants:
                _assign(out, a)
            if not self._gathered(c):
                for name in ("pre", "post", "group_delay", "group_ptr"):
                    out(f"{self.n(c.name, name)} = s[{self.n(c.name, name)!r}]")
            if c.on_post:
                out(f"{self.n(c.name, 'by_post')} = s[{self.n(c.name, 'by_post')!r}]")
                out(f"{self.n(c.name, 'post_ptr')} = s[{self.n(c.name, 'post_ptr')!r}]")
            for name in c.state + [t.name for t in c.traces]:
                out(f"{name} = s[{name!r}]")
            if c.delay_array:
                out(f"{c.delay_array} = s[{c.delay_array!r}]")
            if self._gathered(c) and not self.route[c.name].group:
                out(f"{self.n(c.name, 'rows')} = self.targets[{c.name!r}]  # the targets of each neuron")
            if c.linear is not None:
                target, weight = c.linear
                if weight.free_symbols & {symbol(n) for n in c.state}:
                    out(f"{self.n(c.name, 'weight')} = {code(weight)}  # what one spike adds, per synapse")
                    if c.storage == "dense":
                        out(f"{self.n(c.name, 'weight')} = rt.dense({self.n(c.name, 'pre')}, {self.n(c.name, 'post')}, {self.n(c.name, 'weight')}, "
                            f"{c.n_pre}, {c.n_post})  # a weight matrix: pre x post")
            if len(out.lines) == header + 1:  # nothing to load for this connection
                out.lines.pop()
        for first, group in self.together.items():
            target = self.pops[group[0].target]
            out(f"# {', '.join(c.name for c in group)}: delivered together, into the stacked state of {target.name}")
            out(f"{self.n(first, 'rows')} = self.targets[{first!r}]  # the targets of each neuron, as row * {target.size} + neuron")
            out(f"{self.n(first, 'weight')} = np.repeat([{self._stacked_weights(group)}], {target.size})  # what a spike adds, by target")
        for name in dict.fromkeys(group[0].target for group in self.together.values()):
            out(f"{self.n(name, 'x_flat')} = tuple(x.reshape(-1) for x in {self.n(name, 'x')})  # the stacked buffers as flat views")
        for name in self.sizes:
            out(f"{self.n(name, 'history')} = s[{self.n(name, 'history')!r}]")
            out(f"{self.n(name, 'spk')} = np.flatnonzero({self.n(name, 'history')}[(start - 1) % {self.n(name, 'history')}.shape[0]])  # last step's")
        out("synops = self.synops")
        return out.prune(uses).text(2)

    def loop(self) -> str:
        """The plan's schedule, phase by phase: each operation printed by its method below."""
        out = Lines()
        for phase in self.plan.schedule.phases:
            if phase.ops:
                out(f"# {phase.name}: {phase.doc}")
            for op in phase.ops:
                getattr(self, "print_" + type(op).__name__)(out, op)
        if any(re.search(r"\bt\b", line) for line in out.lines):
            out.lines.insert(0, "t = step * dt")
        return out.text(3)

    # ---- the operations of one step ------------------------------------------------------------
    def print_EvalInputs(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        for d in pop.input_draws:
            out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, step, {self.n(pop.name, 'index')})")
        if any(symbol("i") in a.expr.free_symbols for a in pop.inputs):
            out(f"i = {self.n(pop.name, 'index')}")
        for a in pop.inputs:
            out(f"{a.name} = {_array(a.expr, str(pop.size))} if {self.n(a.name, 'outside')} is None "
                f"else rt.input_at({self.n(a.name, 'outside')}, step, {pop.size})")

    def print_EvalSynapseInputs(self, out: Lines, op) -> None:
        c = self.conns[op.connection]
        for d in c.input_draws:
            out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, step, 0)")
        for a in c.inputs:  # one value for the whole connection
            out(f"{a.name} = float({code(a.expr)}) if {self.n(a.name, 'outside')} is None "
                f"else rt.scalar_input_at({self.n(a.name, 'outside')}, step)")

    def print_DecayTraces(self, out: Lines, op) -> None:
        for a in self.conns[op.connection].trace_decay:
            _assign(out, a)

    def print_Refractory(self, out: Lines, op) -> None:
        name = op.population
        if op.uniform:
            out(f"{self.n(name, 'slot')} = step % ({self.n(name, 'ref_steps')} + 1)")
            out(f"{self.n(name, 'refractory')}[{self.n(name, 'released')}[{self.n(name, 'slot')}]] = False  # their period is over")
        else:
            out(f"{self.n(name, 'refractory')} = {self.n(name, 'refractory_until')} >= step")

    def print_Integrate(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        if op.matrix:
            self.propagate(out, pop)
        else:
            self.integrate(out, pop)

    def print_IntegrateSynapses(self, out: Lines, op) -> None:
        for a in self.conns[op.connection].syn_integrate:
            _assign(out, a)

    def print_CheckFinite(self, out: Lines, op) -> None:
        out("if careful:")
        with out.indent():
            for _, v in op.variables:
                out(f"self._check_finite({v}, {v!r}, step)")

    def print_Threshold(self, out: Lines, op) -> None:
        self.spikes(out, self.pops[op.population])

    def print_Emit(self, out: Lines, op) -> None:
        self.source(out, self.sources[op.source])

    def print_PostEvents(self, out: Lines, op) -> None:
        self.on_post(out, self.conns[op.connection], op.all_pairs)

    def print_KeepHistory(self, out: Lines, op) -> None:
        history = self.n(op.source, "history")
        out(f"{history}[step % {history}.shape[0]] = {self.n(op.source, 'spiked')}")

    def print_RecordSpikes(self, out: Lines, op) -> None:
        out(f"if {self.n(op.population, 'spk')}.size:")
        with out.indent():
            out(f"rec[{op.monitor}].append((step, {self.n(op.population, 'spk')}))")

    def print_RecordState(self, out: Lines, op) -> None:
        m = self.plan.monitors[op.monitor]
        sl = f"{m.start}:{m.stop}:{m.step}"
        values = ", ".join(f"{q}[{sl}]" for q in m.qualified)
        if op.every > 1:
            out(f"if step % {op.every} == 0:")
            with out.indent():
                out(f"rec[{op.monitor}].append((step, np.stack([{values}])))")
        else:
            out(f"rec[{op.monitor}].append((step, np.stack([{values}])))")

    def spikes(self, out: Lines, pop: PopulationPlan) -> None:
        name = pop.name
        if pop.threshold is None:
            out(f"{self.n(name, 'spiked')} = np.zeros({pop.size}, dtype=bool)")
            out(f"{self.n(name, 'spk')} = np.zeros(0, dtype=np.int64)")
            return
        cond = code(pop.threshold)
        varying = {symbol(n) for n in pop.state + [a.name for a in pop.inputs]}
        if pop.refractory is not None and pop.threshold.free_symbols & varying:  # a fresh array: and-not in place
            out(f"{self.n(name, 'spiked')} = {_bare(cond)}")
            out(f"np.greater({self.n(name, 'spiked')}, {self.n(name, 'refractory')}, out={self.n(name, 'spiked')})  # and not refractory (a > b)")
        elif pop.refractory is not None:  # a > b on booleans: a and not b
            out(f"{self.n(name, 'spiked')} = np.greater({_bare(cond)}, {self.n(name, 'refractory')})  # and not refractory")
        else:
            out(f"{self.n(name, 'spiked')} = np.broadcast_to({cond}, ({pop.size},))")
        out(f"{self.n(name, 'spk')} = {self.n(name, 'spiked')}.nonzero()[0]")
        if pop.refractory is not None and pop.refractory_uniform:
            out(f"{self.n(name, 'released')}[{self.n(name, 'slot')}] = {self.n(name, 'spk')}  # refractory for the next {self.n(name, 'ref_steps')} steps")
        if pop.reset or pop.refractory is not None:
            # only the neurons that spiked change: the reset works on them in place
            per_neuron = pop.state + [a.name for a in pop.inputs] + [p.name for p in pop.params if p.value is None]
            indexed = {n: f"{self.n(name, 'spk')}" for n in per_neuron}
            out(f"if {self.n(name, 'spk')}.size:")
            with out.indent():
                for a in pop.reset:
                    out(f"{a.target}[{self.n(name, 'spk')}] = {code(a.expr, indexed)}")
                if pop.refractory is not None and pop.refractory_uniform:
                    out(f"{self.n(name, 'refractory')}[{self.n(name, 'spk')}] = True")
                elif pop.refractory is not None:
                    out(f"{self.n(name, 'refractory_until')}[{self.n(name, 'spk')}] = step + {self.n(name, 'ref_steps')}[{self.n(name, 'spk')}]")

    def integrate(self, out: Lines, pop: PopulationPlan) -> None:
        """The plan's statements; a gated variable keeps its value where the neuron is refractory."""
        temps = set()
        for a in pop.integrate:
            if a.where != f"{self.n(pop.name, 'active')}":
                _assign(out, a)
                temps.add(a.target)
            elif a.expr.is_Symbol and a.expr.name in temps:  # a fresh array: hold in place
                out(f"np.copyto({a.expr.name}, {a.target}, where={self.n(pop.name, 'refractory')})  # held while refractory")
                out(f"{a.target} = {a.expr.name}")
            else:
                out(f"{a.target} = np.where({self.n(pop.name, 'refractory')}, {a.target}, {code(a.expr)})  # held while refractory")

    def refractory_prologue(self, out: Lines, pop: PopulationPlan) -> None:
        name = pop.name
        out(f"{self.n(name, 'refractory_until')} = s[{self.n(name, 'refractory_until')!r}]  # last refractory step of each neuron")
        if pop.refractory_uniform:
            out(f"{self.n(name, 'ref_steps')} = int({code(pop.refractory)})  # refractory in the steps after a spike")
            out("# refractory neurons, and the ring of those released at each step (slot: step % (ref_steps + 1))")
            out(f"{self.n(name, 'refractory')}, {self.n(name, 'released')} = rt.refractory_ring({self.n(name, 'refractory_until')}, start, {self.n(name, 'ref_steps')})")
        else:
            out(f"{self.n(name, 'ref_steps')} = np.broadcast_to({code(pop.refractory)}, ({pop.size},)).astype(np.int64)"
                "  # per neuron, in the steps after a spike")

    def stack(self, out: Lines, pop: PopulationPlan) -> None:
        """The variables of an exact scheme stacked in one array, for one matrix product a step."""
        prop, name = pop.propagator, pop.name
        labels = ", ".join(self.spec_name[v] for v in prop.variables)
        rows = ", ".join("[" + ", ".join(code(e) for e in row) + "]" for row in prop.matrix)
        out(f"{self.n(name, 'P')} = np.array([{rows}])  # exact propagator: [{labels}] <- P @ [{labels}, 1]")
        out(f"# two stacked buffers (rows {labels}, then ones), written in turn: even steps read the first")
        out(f"{self.n(name, 'x')}, {self.n(name, 'x_out')}, {self.n(name, 'x_rows')} = rt.stacked([{', '.join(prop.variables)}])")
        out(f"{', '.join(prop.variables)} = {self.n(name, 'x_rows')}[start & 1]")

    def propagate(self, out: Lines, pop: PopulationPlan) -> None:
        prop, name = pop.propagator, pop.name
        new = [f"{self.n(v, 'new')}" for v in prop.variables]
        out(f"np.matmul({self.n(name, 'P')}, {self.n(name, 'x')}[step & 1], out={self.n(name, 'x_out')}[(step + 1) & 1])")
        out(f"{', '.join(new)} = {self.n(name, 'x_rows')}[(step + 1) & 1]")
        for v, expr in prop.inputs.items():
            out(f"{self.n(v, 'new')} += {code(expr)}")
        for v in pop.gated:
            out(f"np.copyto({self.n(v, 'new')}, {v}, where={self.n(name, 'refractory')})  # held while refractory")
        out(f"{', '.join(prop.variables)} = {', '.join(new)}")

    def source(self, out: Lines, src: SourcePlan) -> None:
        name = src.name
        if src.kind == "poisson":
            if src.rate_key:
                out(f"if {self.n(name, 'rate_outside')} is not None and {self.n(name, 'rate_fixed')} is None:  # rates that change with the step")
                with out.indent():
                    out(f"{self.n(name, 'p')} = rt.input_at({self.n(name, 'rate_outside')}, step, {src.size}) * dt")
            rows = max(1, min(128, 2**20 // src.size))  # steps of random numbers drawn at once
            out(f"if not 0 <= step - {self.n(name, 'from')} < {self.n(name, 'u')}.shape[0]:  # the next {rows} steps' numbers, at once")
            with out.indent():
                out(f"{self.n(name, 'from')} = step")
                out(f"{self.n(name, 'u')} = rt.uniform(seed, {src.stream}, np.arange(step, min(step + {rows}, stop))[:, None], "
                    f"{self.n(name, 'index')}[None, :])")
            out(f"{self.n(name, 'spiked')} = {self.n(name, 'u')}[step - {self.n(name, 'from')}] < {self.n(name, 'p')}")
            out(f"{self.n(name, 'spk')} = {self.n(name, 'spiked')}.nonzero()[0]")
        else:
            out(f"lo, hi = np.searchsorted({self.n(name, 'event_step')}, [step, step + 1])")
            out(f"{self.n(name, 'spk')} = np.unique({self.n(name, 'event_index')}[lo:hi])")
            out(f"{self.n(name, 'spiked')} = np.zeros({src.size}, dtype=bool)")
            out(f"{self.n(name, 'spiked')}[{self.n(name, 'spk')}] = True")

    def print_Deliver(self, out: Lines, op) -> None:
        c = self.conns[op.connection]
        if op.strategy == "stacked":
            out(f"spk = {self.n(c.source, 'spk')}  # {', '.join(op.group)}")
            out("if spk.size:")
            with out.indent():
                out(f"post = rt.gather({self.n(c.name, 'rows')}, spk)")
                out("synops += post.size")
                out(f"np.add.at({self.n(c.target, 'x_flat')}[step & 1], post, {self.n(c.name, 'weight')}[post])")
            return
        if op.last_step:  # the shortest delay: last step's spikes
            out(f"spk = {self.n(c.source, 'spk')}  # {c.name}")
            out("if spk.size:")
            with out.indent():
                self.arrive(out, c, op, f"{self.n(c.name, 'group_ptr')}[0]")
            return
        out(f"for d, ptr in zip({self.n(c.name, 'group_delay')}, {self.n(c.name, 'group_ptr')}):  # {c.name}")
        with out.indent():
            out(f"spk = np.flatnonzero({self.n(c.source, 'history')}[(step - d) % {self.n(c.source, 'history')}.shape[0]])")
            out("if spk.size:")
            with out.indent():
                self.arrive(out, c, op, "ptr")

    def arrive(self, out: Lines, c: ConnectionPlan, op, ptr: str) -> None:
        """The on_pre effects of the spiking presynaptic neurons ``spk``."""
        if op.strategy == "dense":
            out(f"synops += spk.size * {c.n_post}")
            self.linear(out, c, *c.linear)
            return
        if op.strategy == "gathered":
            out(f"post = rt.gather({self.n(c.name, 'rows')}, spk)")
            out("synops += post.size")
            self.linear(out, c, *c.linear)
            return
        if c.linear is not None and not op.weighted:  # one weight: the post neurons of the rows
            out(f"post = rt.entries_of({self.n(c.name, 'post')}, {ptr}, spk)")
            out("synops += post.size")
            self.linear(out, c, *c.linear)
            return
        if op.strategy == "all_pairs":  # row after row: the synapses of neuron k are k * n_post + (0 ... n_post - 1)
            out(f"syn = (spk[:, None] * {c.n_post} + np.arange({c.n_post})).ravel()")
        else:
            out(f"syn = rt.rows_of({ptr}, spk)")
        out("synops += syn.size")
        if c.linear is not None:
            self.linear(out, c, *c.linear)
        else:
            self.events(out, c, c.on_pre, "pre")

    def linear(self, out: Lines, c: ConnectionPlan, target: str, weight: sympy.Basic) -> None:
        uses_state = self._weighted(c)
        if uses_state and c.storage == "dense":
            out(f"{target} += {self.n(c.name, 'weight')}[spk].sum(axis=0)")
        elif uses_state:
            out(f"np.add.at({target}, {self.n(c.name, 'post')}[syn], {self.n(c.name, 'weight')}[syn])")
        else:
            out(f"np.add.at({target}, post, {code(weight)})")

    def events(self, out: Lines, c: ConnectionPlan, statements: list[EventStatement], event: str) -> None:
        """on_pre / on_post statements over the active synapses ``syn`` of the spiking neurons ``spk``."""
        body = Lines()
        for st in statements:
            if st.side == event:  # once per spiking neuron
                indexed = {n: "spk" for n, ix in c.indexed.items() if ix == event}
                body(f"{st.target}[spk] = {code(st.expr, indexed)}")
            elif st.side == "synapse":
                body(f"{st.target}[syn] = {code(st.expr, c.indexed)}")
            else:  # every synapse adds to its neuron on the other side
                index = st.index
                size = c.post_rows if index == "post" else c.pre_rows
                value = code(st.expr, c.indexed)
                op = "-=" if st.op == "-=" else "+="  # in place: the target may be a view of the population's state
                if st.expr.free_symbols & {symbol(n) for n in c.indexed}:  # a value per synapse: shaped like syn
                    body(f"{st.target} {op} np.bincount({index}, weights={value}, minlength={size})")
                else:
                    body(f"{st.target} {op} {value} * np.bincount({index}, minlength={size})")
        # the neurons of the active synapses, where the statements use them
        for side in ("pre", "post"):
            if any(re.search(rf"\b{side}\b", line) for line in body.lines):
                out(f"{side} = {self.n(c.name, side)}[syn]")
        for line in body.lines:
            out(line)

    def on_post(self, out: Lines, c: ConnectionPlan, all_pairs: bool) -> None:
        out(f"spk = {self.n(c.target, 'spk')}  # {c.name}")
        out("if spk.size:")
        with out.indent():
            if all_pairs:  # all pairs, row after row: the synapses of post neuron k are k + n_post * (0 ... n_pre - 1)
                out(f"syn = (spk[:, None] + {c.n_post} * np.arange({c.n_pre})).ravel()")
            else:
                out(f"syn = {self.n(c.name, 'by_post')}[rt.rows_of({self.n(c.name, 'post_ptr')}, spk)]")
            out("synops += syn.size")
            self.events(out, c, c.on_post, "post")

    def epilogue(self) -> str:
        out = Lines()
        names = []
        for pop in self.plan.populations:
            names += pop.state
            if pop.refractory is not None:
                names.append(f"{self.n(pop.name, 'refractory_until')}")
            if pop.refractory_uniform:
                out(f"{self.n(pop.name, 'refractory_until')} = rt.refractory_until({self.n(pop.name, 'released')}, stop, "
                    f"{self.n(pop.name, 'ref_steps')}, {pop.size})")
        for c in self.plan.connections:
            names += c.state + [t.name for t in c.traces]
        for name in names:
            out(f"s[{name!r}] = {name}")
        for name in self.sizes:
            if name not in self.delayed:  # the loop reads only last step's spikes: keep those
                out("if stop > start:")
                with out.indent():
                    out(f"{self.n(name, 'history')}[(stop - 1) % {self.n(name, 'history')}.shape[0]] = {self.n(name, 'spiked')}")
        out("self.synops = synops")
        return out.text(2)

    def describe(self) -> dict:
        """What every target's templates show of the plan: parameters, sizes, monitors."""
        plan = self.plan
        params = {}
        units = {}
        for owner in plan.populations + plan.connections:
            for prm in owner.params:
                params[prm.key] = prm.value
                units[prm.key] = prm.unit or "1 (dimensionless)"
        return {
            "plan": plan,
            "params": params,
            "units": units,
            "sizes": self.sizes,
            "populations": [p.name for p in plan.populations],
            "sources": [s.name for s in plan.sources],
            "event_sources": [s for s in plan.sources if s.kind == "events"],
            # state keys of each event source's queue: (steps, indices)
            "event_keys": {s.name: (self.n(s.name, "event_step"), self.n(s.name, "event_index"))
                           for s in plan.sources if s.kind == "events"},
            "monitors": plan.monitors,
            "finite": {p.name: p.finite_check for p in plan.populations},
            "finite_labels": {v: (p.name, self.spec_name[v]) for p in plan.populations for v in p.finite_check},
        }

    def context(self) -> dict:
        plan = self.plan
        loop, epilogue = self.loop(), self.epilogue()
        return {
            **self.describe(),
            "fixed": [self.n(c.name, k) for c in plan.connections
                      for k in ("pre", "post", "group_delay", "group_ptr") + (("by_post", "post_ptr") if c.on_post else ())]
            + [c.delay_array for c in plan.connections if c.delay_array],
            "reset_code": self.reset(),
            "prologue_code": self.prologue(loop + "\n" + epilogue),
            "loop_code": loop,
            "epilogue_code": epilogue,
            "index_code": self.index(),
        }
