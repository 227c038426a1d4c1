"""The host driver: what a run loads and launches, the plan's schedule walked step by step."""
from __future__ import annotations

from ..lines import Lines
from ..printer import numpy_code
from .kernel import EmitError, names_in


class Host:
    # ---- the host driver ---------------------------------------------------------------------
    def kernels_source(self) -> str:
        return "\n".join(k.source() for k in self.kernels)

    def prologue(self) -> str:
        """Parameters, constants (on the host, the NumPy target's own expressions), device arrays, launch shapes."""
        out = Lines()
        host_copies = set()
        for pop in self.plan.populations:
            out(f"# {pop.name}: parameters, constants of the {pop.method} scheme")
            per_neuron = {prm.name for prm in pop.params if prm.value is None}
            needed = names_in(*(a.expr for a in pop.constants), pop.refractory) & per_neuron
            for prm in pop.params:
                if prm.value is not None:
                    out(f"{prm.name} = p[{prm.key!r}]")
                elif prm.name in needed:
                    out(f"{prm.name} = dev.to_host(s[{prm.name!r}])  # per neuron, on the host for the constants")
                    host_copies.add(prm.name)
            for a in pop.constants:
                out(f"{a.target} = {numpy_code(a.expr)}")
                if a.target in self.per_neuron_constants:
                    out(f"b[{a.target!r}] = xp.asarray(np.ascontiguousarray(np.broadcast_to({a.target}, "
                        f"({pop.size},)), dtype=REAL))")
            if pop.refractory is not None:
                out(f"{self.n(pop.name, 'ref_steps')} = int({numpy_code(pop.refractory)})")
            for a in pop.inputs:
                key = f"{pop.name}.{self.spec_name[a.name]}"
                out(f"{self.n(a.name, 'input')} = Outside(self.inputs.get({key!r}), {pop.size}, xp, REAL, {key!r})")
        for c in self.conns:
            if c.params or c.trace_constants or c.syn_constants:
                out(f"# {c.name}: {c.synapse}")
            for prm in c.params:
                out(f"{prm.name} = p[{prm.key!r}]")
                if prm.name in self.each:
                    values, stride = self.each[prm.name]
                    out(f"{values}, {stride} = each_synapse({prm.name}, s[{self.n(c.name, 'post')!r}].size, xp, REAL, "
                        f"{prm.key!r})  # read per synapse: one number, or one value per synapse")
            for a in c.trace_constants + c.syn_constants:
                out(f"{a.target} = {numpy_code(a.expr)}")
            out(f"{self.n(c.name, 'delays')} = self.host[{self.n(c.name, 'group_delay')!r}]")
            for a in getattr(c, "inputs", []):
                key = f"{c.name}.{self.spec_name[a.name]}"
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({key!r})  # one value per step for the connection")
        for src in self.plan.sources:
            if src.kind == "poisson" and getattr(src, "rate_key", None):
                out(f"{self.n(src.name, 'rate_input')} = Outside(self.inputs.get({src.rate_key!r}), {src.size}, xp, REAL, "
                    f"{src.rate_key!r})")
        for d in self.plan.drives:  # poisson_drive: counts drawn on the host (the NumPy runtime's), added on the device
            out(f"# input {d.name}: poisson_drive into {self.spec_name.get(d.variable, d.variable)} of {d.population}")
            out(f"{self.n(d.name, 'index')} = np.arange({self.sizes[d.population]})")
            out(f"{self.n(d.name, 'mean')} = {d.n} * {d.rate!r} * dt  # input spikes per neuron and step, on average")
        out("# device arrays")
        for name, a in self.arrays.items():
            if a.store == "s" or name in self.per_neuron_constants or name in self._inputs() or name.endswith("_now"):
                out(f"{name} = {a.store}[{name!r}]")
        for c in self.conns:
            if c.on_pre and self._dense(c):  # zeros, then the weights of the synapses
                n = self.sizes[c.source] * self.sizes[c.target]
                out(f"{self.n(c.name, 'weight')} = b[{self.n(c.name, 'weight')!r}] = xp.zeros({n}, dtype=REAL)")
        out("# launch shapes")
        for name in self.sizes:
            out(f"{self.n(name, 'rows')} = {self.n(name, 'ring_n')}.size  # steps of spikes kept")
        shapes = {}
        for name, size in self.sizes.items():
            shapes[self.n(name, "grid")] = f"grid_of({size})"
        for c in self.conns:
            shapes[self.n(c.name, "grid")] = f"grid_of({c.n_post})"
            for event, n in (("pre", c.n_pre), ("post", c.n_post)):
                shapes[self.n(c.name, f"grid_{event}")] = f"(min(MAX_BLOCKS, {n}),)  # a block per spike"
                shapes[self.n(c.name, f"grid_{event}_spikes")] = f"grid_of({n})"
                shapes[self.n(c.name, f"lanes_{event}")] = f"lanes({self.n(c.name, 'post')}.size / {n})  # threads over a row"
        used = {k.grid for k in self.kernels} | {k.block for k in self.kernels}
        for name, value in shapes.items():
            if name in used:
                out(f"{name} = {value}")
        for src in self.plan.sources:
            if src.kind != "poisson":
                out(f"{self.n(src.name, 'due_step')} = self._due({src.name!r})  # the spikes of each step, on the device")
        out("# the arguments of each kernel that stay the same for this run")
        for k in self.kernels:
            out(f"{k.args_name} = {k.static()}")
        out.prune(self.loop() + self.before())
        return out.text(2)

    def before(self) -> str:
        """Once a run, before the first step: weights of dense layers, and the inputs of the first step."""
        out = Lines()
        for c in self.conns:
            if c.on_pre and self._dense(c):
                out(self.find(self.n(c.name, "weight")).call())
        for pop in self.plan.populations:
            k = self.find(self.n(pop.name, "step"))
            values = dict(step="np.int64(start - 1)", t="REAL((start - 1) * dt)", t_next="REAL(start * dt)",
                          advance="np.int32(0)", slot="np.int32(0)")
            if pop.inputs:
                out(f"# {pop.name}: the input variables of the first step")
                for a in pop.inputs:
                    out(f"{self.n(a.name, 'outside')}, {self.n(a.name, 'offset')}, {self.n(a.name, 'given')} = {self.n(a.name, 'input')}.at(start)")
                out(k.call(**values))
        return out.text(2)

    def loop(self) -> str:
        """The plan's schedule, phase by phase. A population's kernel fuses its integration,
        refractoriness, threshold, reset, spike recording and the next step's inputs, so
        those operations print nothing of their own."""
        out = Lines()
        out("n = np.int64(step)")
        out("t = step * dt")
        for phase in self.plan.schedule.phases:
            body = Lines()
            body.level = out.level
            for op in phase.ops:
                getattr(self, "print_" + type(op).__name__, self.fused)(body, op)
            if body.lines:
                out(f"# {phase.name}: {phase.doc}")
                out.lines += body.lines
        return out.text(3)

    def fused(self, out: Lines, op) -> None:
        """Done inside a population's kernel (EvalInputs, Refractory, CheckFinite, Threshold,
        KeepHistory, RecordSpikes)."""

    def print_EvalSynapseInputs(self, out: Lines, op) -> None:  # one value each, as on the NumPy target
        c = next(c for c in self.conns if c.name == op.connection)
        for d in c.input_draws:
            out(f"{d.name} = rt.{d.kind}(self.seed, {d.stream}, step, 0)")
        for a in c.inputs:
            out(f"{a.name} = float({numpy_code(a.expr)}) if {self.n(a.name, 'outside')} is None "
                f"else rt.scalar_input_at({self.n(a.name, 'outside')}, step, {c.name + '.' + self.spec_name[a.name]!r})")

    def print_DecayTraces(self, out: Lines, op) -> None:
        out(self.find(self.n(op.connection, "decay")).call())

    def print_Deliver(self, out: Lines, op) -> None:
        """dense: one product; a linear effect: one kernel over every delay group; else the
        event kernels, delay group by delay group. (Gathered and stacked deliveries are
        the rows of the spiking neurons too: on a GPU, a CSR row is the list of targets.)"""
        for name in op.group or (op.connection,):
            c = next(c for c in self.conns if c.name == name)
            if op.strategy == "dense":
                out(f"d = {self.n(c.name, 'delays')}[0]  # {c.name}: one delay for all synapses")
                out(f"slot = np.int32((step - d) % {self.n(c.source, 'rows')})")
                out(self.find(self.n(c.name, "on_pre")).call())
            elif c.linear is not None:
                out(self.find(self.n(c.name, "on_pre")).call())
            else:
                names = [k.name for k in self.kernels if k.name.startswith(self.n(c.name, "on_pre"))]
                with out.block(f"for g, d in enumerate({self.n(c.name, 'delays')}):  # {c.name}: each delay group", None):
                    out(f"slot = np.int32((step - d) % {self.n(c.source, 'rows')})")
                    for kn in names:
                        out(self.find(kn).call())

    def print_Drive(self, out: Lines, op) -> None:
        """poisson_drive: the NumPy runtime's counts (the same numbers as the NumPy target), times the
        weight, added to the target variable on the device."""
        d = next(d for d in self.plan.drives if d.name == op.drive)
        out(f"{d.variable} += xp.asarray(rt.poisson(self.seed, {d.stream}, step, {self.n(d.name, 'index')}, "
            f"{self.n(d.name, 'mean')}) * {d.weight!r}, dtype=REAL)  # {d.name}: {d.n} Poisson inputs of {d.rate:g} Hz each")

    def print_Integrate(self, out: Lines, op) -> None:
        pop = next(p for p in self.plan.populations if p.name == op.population)
        for a in pop.inputs:
            out(f"{self.n(a.name, 'outside')}, {self.n(a.name, 'offset')}, {self.n(a.name, 'given')} = "
                f"{self.n(a.name, 'input')}.at(step + 1)")
        out(self.find(self.n(pop.name, "step")).call())

    def print_IntegrateSynapses(self, out: Lines, op) -> None:
        c = next(c for c in self.conns if c.name == op.connection)
        target = next((p for p in self.plan.populations if p.name == c.target), None)
        reset = {a.target for a in target.reset} if target is not None else set()
        read = names_in(*[a.expr for a in c.syn_integrate]) & reset
        if read:  # the population's fused kernel has reset them already
            raise EmitError(f"connection {c.name}: its synapse equations read {', '.join(sorted(read))}, which the "
                            f"reset of {c.target} writes; the CuPy target resets in the population's kernel, "
                            "before synapses integrate")
        out(self.find(self.n(op.connection, "integrate")).call())

    def print_Emit(self, out: Lines, op) -> None:
        src = next(s for s in self.plan.sources if s.name == op.source)
        if src.kind == "poisson":
            if getattr(src, "rate_key", None):
                out(f"{self.n(src.name, 'rate_outside')}, {self.n(src.name, 'rate_offset')}, "
                    f"{self.n(src.name, 'rate_given')} = {self.n(src.name, 'rate_input')}.at(step)")
        else:
            out(f"first, last = np.searchsorted({self.n(src.name, 'due_step')}, (step, step + 1))")
            out("first, count = np.int64(first), np.int64(last - first)")
        out(self.find(self.n(src.name, "emit")).call())

    def print_PostEvents(self, out: Lines, op) -> None:
        c = next(c for c in self.conns if c.name == op.connection)
        out(f"slot = np.int32(step % {self.n(c.target, 'rows')})  # {c.name}")
        for k in self.kernels:
            if k.name.startswith(self.n(c.name, "on_post")):
                out(k.call())

    def print_RecordState(self, out: Lines, op) -> None:
        launch = self.find(self.n("", f"monitor{op.monitor}")).call()
        if op.every > 1:
            with out.block(f"if step % {op.every} == 0:", None):
                out(launch)
                out(f"self._sampled[{op.monitor}].append(step)")
        else:
            out(launch)
            out(f"self._sampled[{op.monitor}].append(step)")

    def print_RecordSynapses(self, out: Lines, op) -> None:
        """A synapse monitor: its selected synapses' values, gathered on the device and copied to the
        host every ``every`` steps (records in float64, as the NumPy target's)."""
        m = self.plan.monitors[op.monitor]
        chosen = self.n("", f"monitor{op.monitor}_synapses")
        values = ", ".join(f"s[{q!r}][s[{chosen!r}]]" for q in m.qualified)
        record = (f"self.records[{op.monitor}].append((step, dev.to_host(xp.stack([{values}])).astype(np.float64)))"
                  f"  # {', '.join(m.variables)} of {m.population}")
        if op.every > 1:
            with out.block(f"if step % {op.every} == 0:", None):
                out(record)
        else:
            out(record)

    def reset_tail(self) -> str:
        """After the NumPy builders: host-only arrays set apart, spike rings as long as the longest delay,
        refractoriness as the step of the last spike; whatever else the builders keep is not needed here."""
        out = Lines()
        for c in self.conns:
            out(f"host[{self.n(c.name, 'group_delay')!r}] = [int(d) for d in s[{self.n(c.name, 'group_delay')!r}]]")
        for src in self.plan.sources:
            if src.kind != "poisson":
                for key in ("event_step", "event_index"):
                    out(f"host[{self.n(src.name, key)!r}] = s[{self.n(src.name, key)!r}]")
        for name, size in self.sizes.items():
            delays = [f"*host[{self.n(c.name, 'group_delay')!r}]" for c in self.conns if c.source == name]
            out(f"rows = max([{''.join(d + ', ' for d in delays)}1]) + 1  # the longest delay, and the step being written")
            out(f"s[{self.n(name, 'ring')!r}] = np.zeros(rows * {size}, dtype=np.int32)  # the spikes of each of the last steps")
            out(f"s[{self.n(name, 'ring_n')!r}] = np.zeros(rows, dtype=np.int32)")
        for pop in self.plan.populations:
            if pop.refractory is not None:
                out(f"s[{self.n(pop.name, 'spiked_at')!r}] = np.full({pop.size}, -2**62, dtype=np.int64)  # step of the last spike")
        out("s = {k: v for k, v in s.items() if k in DTYPES}")
        return out.text(2)
