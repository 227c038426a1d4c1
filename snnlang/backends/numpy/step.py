"""One step of the NumPy package: the plan's schedule walked phase by phase, one method per operation."""
from __future__ import annotations

import re

import sympy

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan, EventStatement, PopulationPlan, SourcePlan
from ..lines import Lines
from .code import _array, _assign, _bare, code


class Step:
    def loop(self) -> str:
        """The plan's schedule, phase by phase: each operation printed by its method below."""
        out = Lines()
        schedule = self.plan.schedule
        for phase in (schedule.partitioned_phases() if self.part else schedule.phases):
            if phase.ops:
                out(f"# {phase.name}: {phase.doc}")
            for op in phase.ops:
                kind = type(op).__name__  # precision = loihi: the integer operations of fixed.py where they differ
                print_op = self.fixed and getattr(self, "fixed_" + kind, None) or getattr(self, "print_" + kind)
                print_op(out, op)
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
        held = f"[{self.n(pop.name, 'own')}]" if self.part else ""  # an outside value is given for every neuron
        for a in pop.inputs:
            out(f"{a.name} = {_array(a.expr, self._size(pop.name))} if {self.n(a.name, 'outside')} is None "
                f"else rt.input_at({self.n(a.name, 'outside')}, step, {pop.size}, {pop.name + '.' + self.spec_name[a.name]!r}){held}")

    def print_EvalSynapseInputs(self, out: Lines, op) -> None:
        c = self.conns[op.connection]
        for d in c.input_draws:
            out(f"{d.name} = rt.{d.kind}(seed, {d.stream}, step, 0)")
        for a in c.inputs:  # one value for the whole connection
            out(f"{a.name} = float({code(a.expr)}) if {self.n(a.name, 'outside')} is None "
                f"else rt.scalar_input_at({self.n(a.name, 'outside')}, step, {c.name + '.' + self.spec_name[a.name]!r})")

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
        if self._exchanged(op.source):  # partitioned: the exchange writes every process's spikes
            return
        history = self.n(op.source, "history")
        out(f"{history}[step % {history}.shape[0]] = {self.n(op.source, 'spiked')}")

    def print_Exchange(self, out: Lines, op) -> None:
        """Partitioned: each step's spikes held here wait in a list; every min-delay steps (and at
        the end of a run) one gather brings every process's spikes into the histories."""
        for name in op.sources:
            out(f"{self.n(name, 'sent')}.append({self.n(name, 'own')}[{self.n(name, 'spk')}])")
        sent = ", ".join(self.n(name, "sent") for name in op.sources)
        histories = ", ".join(self.n(name, "history") for name in op.sources)
        fired = ", ".join(self.n(name, "fired") for name in op.sources) + ("," if len(op.sources) == 1 else "")
        out("if (step + 1 - start) % every == 0 or step + 1 == stop:  # every min-delay steps, and at the end of a run")
        with out.indent():
            out(f"{fired} = part.exchange([{sent}], [{histories}], step)  # this step's spikes of every process")

    def _arrived(self, source: str) -> str:
        """Last step's spikes of a source, as its connections read them (partitioned: of every process)."""
        return self.n(source, "fired") if self._exchanged(source) else self.n(source, "spk")

    def print_RecordSpikes(self, out: Lines, op) -> None:
        out(f"if {self.n(op.population, 'spk')}.size:")
        with out.indent():
            spk = self.n(op.population, 'spk')
            if self.part and op.population in self.plan.schedule.partition:  # as indices in the population
                spk = f"{self.n(op.population, 'own')}[{spk}]"
            out(f"rec[{op.monitor}].append((step, {spk}))")

    def print_RecordState(self, out: Lines, op) -> None:
        m = self.plan.monitors[op.monitor]
        pop = self.pops[m.population]
        span = m.as_slice()
        sl = f"{span[0]}:{span[1]}:{span[2]}" if span else self.n("", f"monitor{op.monitor}_neurons")
        if self.part:  # the monitored neurons held here
            sl = self.n("", f"monitor{op.monitor}_cols")
        arrays = set(pop.state) | {a.name for a in pop.inputs} | {prm.name for prm in pop.params if prm.value is None}
        values = []
        for e in m.values or [symbol(q) for q in m.qualified]:
            if e.is_Symbol and e.name in arrays:  # one value per neuron
                values.append(f"{e.name}[{sl}]")
            else:  # a parameter of the population, or a definition
                e = e.xreplace({symbol("i"): sympy.Symbol(self._index_of(pop.name))})
                values.append(f"np.broadcast_to({code(e)}, ({self._size(pop.name)},))[{sl}]")
        values = ", ".join(values)
        if op.every > 1:
            out(f"if step % {op.every} == 0:")
            with out.indent():
                out(f"rec[{op.monitor}].append((step, np.stack([{values}])))")
        else:
            out(f"rec[{op.monitor}].append((step, np.stack([{values}])))")

    def print_RecordSynapses(self, out: Lines, op) -> None:
        """A synapse monitor: the values of its selected synapses (a copy) every ``every`` steps."""
        m = self.plan.monitors[op.monitor]
        chosen = self.n("", f"monitor{op.monitor}_synapses")
        record = f"rec[{op.monitor}].append((step, np.stack([{', '.join(f'{q}[{chosen}]' for q in m.qualified)}])))"
        if op.every > 1:
            out(f"if step % {op.every} == 0:")
            with out.indent():
                out(record)
        else:
            out(record)

    def spikes(self, out: Lines, pop: PopulationPlan) -> None:
        name = pop.name
        if pop.threshold is None:
            out(f"{self.n(name, 'spiked')} = np.zeros({self._size(name)}, dtype=bool)")
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
            out(f"{self.n(name, 'spiked')} = np.broadcast_to({cond}, ({self._size(name)},))")
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
        if src.kind == "poisson" and src.counts:
            self.counted_source(out, src)
        elif src.kind == "poisson":
            if src.rate_key:
                out(f"if {self.n(name, 'rate_outside')} is not None and {self.n(name, 'rate_fixed')} is None:  # rates that change with the step")
                with out.indent():
                    held = f"[{self.n(name, 'own')}]" if self.part else ""
                    out(f"{self.n(name, 'p')} = rt.input_at({self.n(name, 'rate_outside')}, step, {src.size}, {src.rate_key!r}){held} * dt")
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

    def counted_source(self, out: Lines, src: SourcePlan) -> None:
        """poisson(..., counts = true): a Poisson count per neuron and step; each neuron is listed
        in ``spk`` as often as it spikes, so its on_pre effects add up count times."""
        name = src.name
        if src.rate_key:
            out(f"if {self.n(name, 'rate_outside')} is not None and {self.n(name, 'rate_fixed')} is None:  # rates that change with the step")
            with out.indent():
                held = f"[{self.n(name, 'own')}]" if self.part else ""
                out(f"{self.n(name, 'p')} = rt.input_at({self.n(name, 'rate_outside')}, step, {src.size}, {src.rate_key!r}){held} * dt")
        out(f"{self.n(name, 'spiked')} = rt.poisson(seed, {src.stream}, step, {self.n(name, 'index')}, {self.n(name, 'p')})  # spikes of each neuron")
        out(f"{self.n(name, 'spk')} = rt.counted_spikes({self.n(name, 'spiked')})")

    def _spikes_in(self, source: str, row: str) -> str:
        """The spikes of a row of a source's history: the neurons that spiked, or with counts = true
        each neuron as often as it spiked."""
        src = self.sources.get(source)
        return f"rt.counted_spikes({row})" if src is not None and src.counts else f"np.flatnonzero({row})"

    def print_Drive(self, out: Lines, op) -> None:
        """poisson_drive: weight x Poisson(N x rate x dt) added to the target variable of every neuron."""
        d = next(d for d in self.plan.drives if d.name == op.drive)
        out(f"{d.variable} += {self.n(d.name, 'weight')} * rt.poisson(seed, {d.stream}, step, {self.n(d.name, 'index')}, "
            f"{self.n(d.name, 'mean')})  # {d.name}: {d.n} Poisson inputs of {d.rate:g} Hz to each neuron")

    def print_Deliver(self, out: Lines, op) -> None:
        c = self.conns[op.connection]
        if op.strategy == "stacked":
            out(f"spk = {self._arrived(c.source)}  # {', '.join(op.group)}")
            out("if spk.size:")
            with out.indent():
                each = [w for w in (self.each_weight(self.conns[name]) for name in op.group) if w is not None]
                if each:  # a weight parameter set as an array: those connections go synapse by synapse
                    out(f"if {' and '.join(f'{w} is None' for w in each)}:")
                    out.level += 1
                out(f"post = rt.gather({self.n(c.name, 'rows')}, spk)")
                out("synops += post.size")
                out(f"np.add.at({self.n(c.target, 'x_flat')}[step & 1], post, {self.n(c.name, 'weight')}[post])")
                if each:
                    out.level -= 1
                    out("else:  # a parameter of a weight is one value per synapse: connection by connection")
                    with out.indent():
                        for name in op.group:
                            member = self.conns[name]
                            self.each_synapse(out, member, f"{self.n(name, 'group_ptr')}[0]")
            return
        if op.last_step:  # the shortest delay: last step's spikes
            out(f"spk = {self._arrived(c.source)}  # {c.name}")
            out("if spk.size:")
            with out.indent():
                self.arrive(out, c, op, f"{self.n(c.name, 'group_ptr')}[0]")
            return
        out(f"for d, ptr in zip({self.n(c.name, 'group_delay')}, {self.n(c.name, 'group_ptr')}):  # {c.name}")
        with out.indent():
            out(f"spk = {self._spikes_in(c.source, self.n(c.source, 'history') + '[(step - d) % ' + self.n(c.source, 'history') + '.shape[0]]')}")
            out("if spk.size:")
            with out.indent():
                self.arrive(out, c, op, "ptr")

    def arrive(self, out: Lines, c: ConnectionPlan, op, ptr: str) -> None:
        """The on_pre effects of the spiking presynaptic neurons ``spk``."""
        if op.strategy == "dense":
            out(f"synops += spk.size * {self._size(c.target) if self.part else c.n_post}")
            self.linear(out, c, *c.linear)
            return
        each = self.each_weight(c)
        if each is not None and op.strategy in ("gathered", "csr") and c.linear is not None and not op.weighted:
            out(f"if {each} is not None:  # a parameter of the weight is one value per synapse")
            with out.indent():
                self.each_synapse(out, c, ptr)
            out("else:")
            out.level += 1
        if op.strategy == "gathered":
            out(f"post = rt.gather({self.n(c.name, 'rows')}, spk)")
            out("synops += post.size")
            self.linear(out, c, *c.linear)
        elif c.linear is not None and not op.weighted:  # one weight: the post neurons of the rows
            out(f"post = rt.entries_of({self.n(c.name, 'post')}, {ptr}, spk)")
            out("synops += post.size")
            self.linear(out, c, *c.linear)
        if each is not None and op.strategy in ("gathered", "csr") and c.linear is not None and not op.weighted:
            out.level -= 1
        if op.strategy == "gathered" or (c.linear is not None and not op.weighted):
            return
        if op.strategy == "all_pairs":  # row after row: the synapses of neuron k are k * n_post + (0 ... n_post - 1)
            n_post = self._size(c.target) if self.part else c.n_post  # partitioned: the post neurons held here
            out(f"syn = (spk[:, None] * {n_post} + np.arange({n_post})).ravel()")
        else:
            out(f"syn = rt.rows_of({ptr}, spk)")
        out("synops += syn.size")
        if c.linear is not None:
            self.linear(out, c, *c.linear)
        else:
            self.refractory_now(out, c)
            self.events(out, c, c.on_pre, "pre")

    def each_synapse(self, out: Lines, c: ConnectionPlan, ptr: str) -> None:
        """A linear connection's spikes synapse by synapse, each adding its own weight where a
        parameter of the weight is one value per synapse (else the one weight)."""
        target, weight = c.linear
        each = self.each_weight(c)
        out(f"syn = rt.rows_of({ptr}, spk)  # {c.name}")
        out("synops += syn.size")
        value = f"{each}[syn]" if each is not None else code(weight)
        if each is not None and self.route[c.name].strategy == "stacked":
            value = f"{code(weight)} if {each} is None else {each}[syn]"
        out(f"np.add.at({target}, {self.n(c.name, 'post')}[syn], {value})")

    def refractory_now(self, out: Lines, c: ConnectionPlan) -> None:
        """on_pre reads refractory_post (or _pre): the neurons refractory in this step, whose periods
        that ended last step are over (what the population's Refractory operation does next, again).
        With ``as brian2``: those refractory in the last step or that spiked in it, as Brian2's
        synapses read not_refractory after the step's threshold (the Refractory operation then
        sets this step's mask)."""
        for name in sorted(set(c.refractory_reads.values())):
            if self.pops[name].refractory_convention == "brian2":  # as Brian2's synapses see not_refractory
                out(f"{self.n(name, 'refractory')} = {self.n(name, 'refractory_until')} >= max(step - 1, 0)  "
                    "# refractory in the last step, or spiked in it (Brian2's timing)")
            elif self.pops[name].refractory_uniform:
                out(f"{self.n(name, 'slot')} = step % ({self.n(name, 'ref_steps')} + 1)")
                out(f"{self.n(name, 'refractory')}[{self.n(name, 'released')}[{self.n(name, 'slot')}]] = False  "
                    "# refractory in this step: periods over before it end")
            else:
                out(f"{self.n(name, 'refractory')} = {self.n(name, 'refractory_until')} >= step  # refractory in this step")

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
        # parameters that may be one value per synapse (set as arrays): their values at the active synapses
        each = self.each_params(sympy.Tuple(*(st.expr for st in statements if st.side != event)))
        at = {symbol(name): symbol(self.n(name, "at")) for name in each}
        for name in each:
            body(f"{self.n(name, 'at')} = rt.at({name}, syn)  # {self.spec_name.get(name, name)} of each active "
                 "synapse where it is an array, else its one number")
        for st in statements:
            if st.side == event:  # once per spiking neuron
                indexed = {n: "spk" for n, ix in c.indexed.items() if ix == event}
                body(f"{st.target}[spk] = {code(st.expr, indexed)}")
            elif st.side == "synapse":
                body(f"{st.target}[syn] = {code(st.expr.xreplace(at), c.indexed)}")
            else:  # every synapse adds to its neuron on the other side
                index = st.index
                size = (self._size(c.target) if self.part else c.post_rows) if index == "post" else c.pre_rows
                value = code(st.expr.xreplace(at), c.indexed)
                op = "-=" if st.op == "-=" else "+="  # in place: the target may be a view of the population's state
                if st.expr.free_symbols & {symbol(n) for n in c.indexed}:  # a value per synapse: shaped like syn
                    body(f"{st.target} {op} np.bincount({index}, weights={value}, minlength={size})")
                elif st.expr.free_symbols & set(at):  # a value per synapse where a parameter is an array
                    body(f"{st.target} {op} np.bincount({index}, weights=np.broadcast_to({value}, syn.shape), minlength={size})")
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
                n_post = self._size(c.target) if self.part else c.n_post
                out(f"syn = (spk[:, None] + {n_post} * np.arange({c.n_pre})).ravel()")
            else:
                out(f"syn = {self.n(c.name, 'by_post')}[rt.rows_of({self.n(c.name, 'post_ptr')}, spk)]")
            out("synops += syn.size")
            self.events(out, c, c.on_post, "post")
