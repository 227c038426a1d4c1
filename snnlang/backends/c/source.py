"""step.c: one step of the network as C, the plan's schedule walked phase by phase.

A population's refractoriness, integration, spike condition, reset and spike history are one
loop over its neurons (the CuPy target fuses the same operations into one kernel): the
operations of one population read and write only its own arrays, so fusing them changes
no result. The loop has no branches (selects where the NumPy target masks), so that the
compiler vectorises it. It runs in parallel over neurons (OpenMP). A linear delivery runs in
parallel over its targets: each thread adds into its own slice of the target neurons, taking
the spikes and synapses in the NumPy target's order, so no atomics are needed and every sum
is the one a single thread makes. The lists of spikes and the monitors are serial; the
results are the same for any number of threads.
"""
from __future__ import annotations

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan, PopulationPlan
from ..cupy.kernel import names_in
from ..lines import Lines

#: Neurons below which a loop runs on one thread: less work a step than OpenMP's fork, join and barrier
#: cost (CUBA, 2 threads: 4000 neurons 3x slower, 8000 even, 16 000 1.3x faster; benchmarks/NATIVE.md).
PARALLEL_MIN = 12288


#: What one random draw of an input costs, in simple neuron updates (two hashes and, for a normal
#: number, log1p and cos): a loop of draws is worth threads at fewer neurons.
DRAW_COST = 16


def _omp(size: int, cost: int = 1) -> str:
    """The OpenMP pragma of a loop over ``size`` elements of ``cost`` simple updates each, or ""."""
    if size * cost < PARALLEL_MIN:
        return ""
    return "#pragma omp parallel for num_threads(threads) schedule(static)"


class Source:
    # ---- the loop body ---------------------------------------------------------------------
    def step_code(self) -> str:
        out = Lines()
        self._guard(out)
        if any(_uses_t(self, op) for op in self.plan.schedule.ops()):
            out("const real t = (real)step * dt;")
            self.real("dt", "dt")
        for phase in (self.plan.schedule.partitioned_phases() if self.part else self.plan.schedule.phases):
            body = Lines()
            body.level = out.level
            for op in phase.ops:
                getattr(self, "print_" + type(op).__name__)(body, op)
            if body.lines:
                out(f"// {phase.name}: {phase.doc}")
                out.lines += body.lines
        return out.text(2)

    def _guard(self, out: Lines) -> None:
        """Stop before a step whose spikes a monitor's buffer might not hold (the host empties it and calls again)."""
        full = []
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "spikes":
                fill, size = self.n("", f"record{k}_fill"), self.n("", f"record{k}_size")
                self.integer(size, f"b['record{k}'].size")
                full.append(f"{fill} + {self.sizes[m.population]} > {size}")
        if full:
            out(f"if ({' || '.join(full)}) break;  // a spike buffer is full: the host empties it")

    def start_code(self) -> str:
        """Before the first step: each source's spikes of the step before ``start`` (from its history)."""
        out = Lines()
        for name, size in self.sizes.items():
            spk, count, rows = self.n(name, "spk"), self.n(name, "count"), self.n(name, "rows")
            history = self.state(self.n(name, "history"), "unsigned char", True)
            self.integer(rows, f"s[{self.n(name, 'history')!r}].shape[0]")
            out(f"long long* {spk} = malloc(sizeof(long long) * {max(size, 1)});  // {name}: the spikes of the last step")
            out(f"long long {count} = 0;")
            with scope(out):
                out(f"const unsigned char* last = {history} + ((start - 1) % {rows} + {rows}) % {rows} * {size};")
                out(f"{count} = snnlist(last, {size}, {spk});")
        for name in self._delayed_sources():
            out(f"long long* {self.n(name, 'delayed')} = malloc(sizeof(long long) * {max(self.sizes[name], 1)});  "
                f"// {name}: the spikes of a step before the last")
        for c in self.plan.connections:
            if self.route[c.name].strategy == "dense":
                out(f"real* {self.n(c.name, 'sum')} = malloc(sizeof(real) * {max(c.n_post, 1)});  // {c.name}: the rows of this step's spikes, summed")
        for k, m in enumerate(self.plan.monitors):
            out(f"long long {self.n('', f'record{k}_' + ('fill' if m.kind == 'spikes' else 'row'))} = 0;")
        out("long long synops = 0;")
        return out.text(1)

    def end_code(self) -> str:
        out = Lines()
        for name in self.sizes:
            out(f"free({self.n(name, 'spk')});")
        for name in self._delayed_sources():
            out(f"free({self.n(name, 'delayed')});")
        for c in self.plan.connections:
            if self.route[c.name].strategy == "dense":
                out(f"free({self.n(c.name, 'sum')});")
        out(f"{self.array('synops', 'long long', 'b[' + repr('synops') + ']', True)}[0] = synops;")
        return out.text(1)

    def _delayed_sources(self) -> list[str]:
        """The sources of linear connections delivered from their history (delays beyond one step)."""
        return sorted({c.source for c in self.plan.connections if c.linear is not None and not self.route[c.name].last_step})

    def unpack_code(self) -> str:
        """The arrays, reals and integers the host passes, as named C values (after step_code)."""
        out = Lines()
        for k, (cname, ctype, host, written) in enumerate(self.slots):
            const = "" if written else "const "
            out(f"{const}{ctype}* restrict {cname} = ({const}{ctype}*)s[{k}];")
        for k, (name, _) in enumerate(self.reals):
            out(f"const real {name} = x[{k}];")
        for k, (name, _) in enumerate(self.ints):
            out(f"const long long {name} = k[{k}];")
        return out.text(1)

    # ---- names of the per-neuron arrays of a population ------------------------------------------
    def per_neuron(self, pop: PopulationPlan) -> dict[str, str]:
        """Name -> C array of each per-neuron value a population's statements may read."""
        arrays = {}
        for name in pop.state:
            arrays[name] = f"d_{name}"
        for prm in pop.params:
            if prm.value is None:
                arrays[prm.name] = f"d_{prm.name}"
        for a in pop.inputs:
            arrays[a.name] = f"d_{a.name}"
        for name in self.per_neuron_constants(pop):
            arrays[name] = f"d_{name}"
        return arrays

    def declare(self, pop: PopulationPlan, names: set[str], written: set[str] = frozenset()) -> None:
        """Declare the arrays and reals that statements of ``pop`` read (by name)."""
        per_neuron = self.per_neuron(pop)
        scalars = {prm.name for prm in pop.params if prm.value is not None} | {a.target for a in pop.constants}
        inputs = {a.name for a in pop.inputs}
        constants = self.per_neuron_constants(pop)
        for name in names:
            if name in inputs:
                self.array(name, "real", f"b[{name!r}]", True)
            elif name in constants:
                self.array(name, "real", f"_per_neuron({name}, {self.host_size(pop.name)})")
            elif name in per_neuron:
                self.state(name, "real", name in written or name in pop.state)
            elif name in scalars:
                self.real(name, name)
            elif name == "dt":
                self.real("dt", "dt")

    # ---- phase 1 ---------------------------------------------------------------------------------
    def print_EvalInputs(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        N = pop.size
        indexed = {name: "i" for name in self.per_neuron(pop)}
        self.declare(pop, names_in(*(a.expr for a in pop.inputs)) | {a.name for a in pop.inputs})
        with scope(out):
            out(f"const long long N = {self.held_size(pop.name)};  // {pop.name}: the input variables of this step")
            outside = []
            for a in pop.inputs:
                table = self.array(self.n(a.name, "outside"), "real", f"{self.n(a.name, 'table')}")
                rows = self.integer(self.n(a.name, "rows"), self.n(a.name, "rows"))
                first = self.integer(self.n(a.name, "first"), self.n(a.name, "first"))
                row = self.n(a.name, "row")
                out(f"const long long {row} = {rows} ? snnrow(step, {first}, {rows}) : 0;  // set from outside: its row")
                outside.append((a, table, rows, row))
            pragma = _omp(N, 1 + DRAW_COST * len(pop.input_draws))
            if pragma:
                out(pragma)
            with out.block("for (long long i = 0; i < N; i++)"):
                neuron = self.neuron_index(out, pop.name) if pop.input_draws or any(
                    symbol("i") in a.expr.free_symbols for a in pop.inputs) else "i"  # its index in the population
                for d in pop.input_draws:
                    out(f"const real {d.name} = (real)snn_{d.kind}(seed, {d.stream}ULL, (unsigned long long)step, "
                        f"(unsigned long long){neuron});")
                for a, table, rows, row in outside:
                    expr = a.expr if neuron == "i" else a.expr.xreplace({symbol("i"): symbol(neuron)})
                    out(f"d_{a.name}[i] = {rows} ? {table}[{row} * N + i] : {self.c(expr, indexed)};")

    def print_EvalSynapseInputs(self, out: Lines, op) -> None:
        from .plastic import synapse_inputs  # plasticity: plastic.py
        synapse_inputs(self, out, self.conns[op.connection])

    def print_DecayTraces(self, out: Lines, op) -> None:
        from .plastic import decay_traces
        decay_traces(self, out, self.conns[op.connection])

    # ---- phase 3 and 4: one loop a population -----------------------------------------------------
    def print_Refractory(self, out: Lines, op) -> None:
        """In the population's loop (print_Integrate)."""

    def print_CheckFinite(self, out: Lines, op) -> None:
        """The host checks the state after each chunk, and step by step when it replays one."""

    def print_Threshold(self, out: Lines, op) -> None:
        """In the population's loop (print_Integrate)."""

    def print_KeepHistory(self, out: Lines, op) -> None:
        """Every source writes its history row when it spikes (print_Integrate, print_Emit)."""

    def print_IntegrateSynapses(self, out: Lines, op) -> None:
        from .plastic import integrate_synapses
        integrate_synapses(self, out, self.conns[op.connection])

    def print_Integrate(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        name, N = pop.name, pop.size
        ref = pop.refractory is not None
        until = self.state(self.n(name, "refractory_until"), "long long", True) if ref else None
        if ref and pop.refractory_uniform:
            ref_steps = self.integer(self.n(name, "ref_steps"), self.n(name, "ref_steps"))
        elif ref:
            ref_steps = self.array(self.n(name, "ref_steps"), "long long", self.n(name, "ref_steps")) + "[i]"
        temps = {a.target for a in pop.integrate} - set(pop.state)
        read = names_in(*(a.expr for a in pop.integrate + pop.reset), pop.threshold) - temps
        loaded = [n for n in self.per_neuron(pop) if n in read or n in pop.state]
        self.declare(pop, set(loaded) | read)
        history, rows = f"d_{self.n(name, 'history')}", self.n(name, "rows")
        now, spiked, active = self.n(name, "history_now"), self.n(name, "spiked"), self.n(name, "active")
        spk, count = self.n(name, "spk"), self.n(name, "count")
        exprs = [a.expr for a in pop.integrate + pop.reset] + ([pop.threshold] if pop.threshold is not None else [])
        with scope(out):
            out(f"const long long N = {self.held_size(name)};  // {name}: {N} x {pop.neuron}, {pop.method_reason}")
            out(f"unsigned char* restrict {now} = {self.spike_row(name, history, rows)};  // this step's spikes")
            pragma = _omp(N)
            if pragma:
                out(pragma)
            # Without branches (selects where the NumPy target masks), so that the compiler
            # vectorises the loop; a condition is written where it is used, as a comparison.
            with out.block("for (long long i = 0; i < N; i++)"):
                if ref:
                    out(f"const long long until = {until}[i];  // refractory while step <= until")
                    held = "(until < step)"
                    if active in names_in(*exprs):
                        out(f"const bool {active} = until < step;  // not refractory")
                for n in loaded:
                    kind = "real" if n in pop.state or n in {a.name for a in pop.inputs} else "const real"
                    out(f"{kind} {n} = d_{n}[i];")
                out("// integrate" + (" (gated variables held while refractory)" if ref else ""))
                declared = set(loaded)
                for a in pop.integrate:
                    value = self.c(a.expr)
                    if a.target not in declared:
                        declared.add(a.target)
                        out(f"const real {a.target} = {value};")
                    elif a.where is None:
                        out(f"{a.target} = {value};")
                    else:
                        where = held if ref and a.where == active else a.where
                        out(f"{a.target} = {where} ? {value} : {a.target};")
                out("// spike condition, reset, refractoriness")
                if pop.threshold is None:
                    out(f"const bool {spiked} = false;")
                else:
                    cond = self.c(pop.threshold)
                    out(f"const bool {spiked} = {held + ' & ' if ref else ''}({cond});")
                    for a in pop.reset:
                        out(f"{a.target} = {spiked} ? {self.c(a.expr)} : {a.target};")
                    if ref:
                        out(f"{until}[i] = {spiked} ? step + {ref_steps} : until;  // refractory in the next steps")
                for n in pop.state:
                    out(f"d_{n}[i] = {n};")
                out(f"{now}[i] = {spiked};")
            out(f"{count} = snnlist({now}, N, {spk});  // the list of this step's spikes")

    # ---- sources -------------------------------------------------------------------------------
    def print_Emit(self, out: Lines, op) -> None:
        src = self.sources[op.source]
        name, N = src.name, src.size
        history = self.state(self.n(name, "history"), "unsigned char", True)
        rows, now = self.n(name, "rows"), self.n(name, "history_now")
        spk, count = self.n(name, "spk"), self.n(name, "count")
        with scope(out):
            out(f"const long long N = {self.held_size(name)};  // input {name} ({src.kind})")
            out(f"unsigned char* restrict {now} = {self.spike_row(name, history, rows)};")
            if src.kind == "poisson":
                p = self.array(self.n(name, "p"), "real", self.n(name, "p"))
                table = self.array(self.n(name, "rate_outside"), "real", self.n(name, "rate_table"))
                t_rows = self.integer(self.n(name, "rate_rows"), self.n(name, "rate_rows"))
                first = self.integer(self.n(name, "rate_first"), self.n(name, "rate_first"))
                self.real("dt", "dt")
                key, row = self.n(name, "key"), self.n(name, "rate_row")
                out(f"const unsigned long long {key} = snnkey(seed, {src.stream}ULL, (unsigned long long)step);")
                out(f"const long long {row} = {t_rows} ? snnrow(step, {first}, {t_rows}) : 0;")
                pragma = _omp(N)
                if pragma:
                    out(pragma)
                with out.block("for (long long i = 0; i < N; i++)"):
                    neuron = self.neuron_index(out, name)  # its index in the input
                    out(f"const real p = {t_rows} ? {table}[{row} * N + i] * dt : {p}[i];  // spike probability")
                    out(f"{now}[i] = snnuniformat({key}, (unsigned long long){neuron}) < p;")
            else:
                steps = self.state(self.n(name, "event_step"), "long long")
                index = self.state(self.n(name, "event_index"), "long long")
                events = self.integer(self.n(name, "events"), f"s[{self.n(name, 'event_step')!r}].size")
                out(f"memset({now}, 0, N);")
                out(f"const long long lo = snnsearch({steps}, {events}, step), hi = snnsearch({steps}, {events}, step + 1);")
                out(f"for (long long m = lo; m < hi; m++) {now}[{index}[m]] = 1;  // each neuron once")
            out(f"{count} = snnlist({now}, N, {spk});  // the list of this step's spikes")

    # ---- phase 2: delivery ------------------------------------------------------------------------
    def print_Deliver(self, out: Lines, op) -> None:
        for name in op.group or (op.connection,):  # a stacked group: its members in turn (one weight per variable)
            self.deliver(out, self.conns[name], op)

    def deliver(self, out: Lines, c: ConnectionPlan, op) -> None:
        if c.linear is None:  # event statements (plasticity): plastic.py
            from .plastic import deliver
            return deliver(self, out, c, op)
        target, weight = c.linear
        pop = self.pops[c.target]
        self.declare(pop, {target}, {target})
        ptr_all = self.state(self.n(c.name, "group_ptr"), "long long")
        post = self.state(self.n(c.name, "post"), "long long")
        delays = self.state(self.n(c.name, "group_delay"), "long long")
        groups = self.integer(self.n(c.name, "groups"), f"s[{self.n(c.name, 'group_delay')!r}].size")
        src, N = c.source, self.sizes[c.source]
        history, rows = f"d_{self.n(src, 'history')}", self.n(src, "rows")
        dense = op.strategy == "dense"
        if dense:
            matrix = self.array(self.n(c.name, "weight"), "real", self.n(c.name, "weight"))
            total = self.n(c.name, "sum")
        elif op.weighted:
            indexed = {n: "syn" for n in c.state}
            for n in names_in(weight):
                if n in c.state:
                    self.state(n, "real")
                elif any(prm.name == n for prm in c.params):
                    self.real(n, n)
                elif n != "dt":
                    raise ValueError(f"connection {c.name}: the weight reads {n!r}, which the c target cannot pass")
            value = self.c(weight, indexed)
        else:
            for n in names_in(weight):
                if any(prm.name == n for prm in c.params) or n == "dt":
                    self.real(n, n)
                else:
                    raise ValueError(f"connection {c.name}: the weight reads {n!r}, which the c target cannot pass")
            value = self.c(weight)
        n_post = c.n_post if dense else self.held_size(pop.name)  # the targets held here
        spikes, count = self.n(c.name, "arrived"), self.n(c.name, "arrivals")

        def arrive(o: Lines, sliced: bool) -> None:  # the synapses of `pre` (onto lo..hi-1 if sliced)
            if dense:
                with o.block("if (m == 0)"):
                    o(f"memcpy({total} + lo, {matrix} + pre * {c.n_post} + lo, sizeof(real) * (hi - lo));")
                with o.block("else"):
                    o(f"for (long long j = lo; j < hi; j++) {total}[j] += {matrix}[pre * {c.n_post} + j];")
            else:
                with o.block("for (long long syn = ptr[pre]; syn < ptr[pre + 1]; syn++)"):
                    o(f"const long long j = {post}[syn];")
                    o(f"if (j >= lo && j < hi) d_{target}[j] += {value};" if sliced else f"d_{target}[j] += {value};")

        def add_all(o: Lines, sliced: bool) -> None:  # every arriving spike's synapses (onto lo..hi-1 if sliced)
            with o.block(f"for (long long m = 0; m < {count}; m++)"):
                o(f"const long long pre = {spikes}[m];")
                arrive(o, sliced)
            if dense:
                with o.block(f"if ({count})"):
                    o(f"for (long long j = lo; j < hi; j++) d_{target}[j] += {total}[j];")

        def spread(o: Lines) -> None:  # the spikes of `spikes` (count of them), over the threads by target
            if dense:
                o(f"const long long events = {count} * {c.n_post};  // synapses of the arriving spikes")
            else:
                o("long long events = 0;  // synapses of the arriving spikes")
                with o.block(f"for (long long m = 0; m < {count}; m++)"):
                    o(f"const long long pre = {spikes}[m];")
                    o("events += ptr[pre + 1] - ptr[pre];")
            o("synops += events;")
            with o.block(f"if (threads > 1 && events >= {PARALLEL_MIN})"):
                o(f"// each thread adds into its own slice of the {n_post} targets, in one thread's order: the sums")
                o("// do not depend on the threads")
                o("#pragma omp parallel num_threads(threads)")
                with scope(o):
                    o("long long lo, hi;")
                    o(f"snnslice({n_post}, &lo, &hi);")
                    add_all(o, True)
            with o.block("else  // one thread, every target: not worth a parallel region"):
                if dense:
                    o(f"const long long lo = 0, hi = {n_post};")
                add_all(o, False)

        with scope(out):
            out(f"// {c.name}: {c.source} -> {c.target}, {op.strategy}" + (", one step of delay" if op.last_step else ""))
            if op.last_step:  # last step's spikes: the source's list
                if not dense:
                    out(f"const long long* ptr = {ptr_all};")
                out(f"const long long* {spikes} = {self.n(src, 'spk')};")
                out(f"const long long {count} = {self.n(src, 'count')};")
                spread(out)
            else:
                with out.block(f"for (long long group = 0; group < {groups}; group++)  // each delay"):
                    out(f"const long long d = {delays}[group];")
                    if not dense:
                        out(f"const long long* ptr = {ptr_all} + group * {c.pre_rows + 1};")
                    out(f"const unsigned char* spk = {history} + ((step - d) % {rows} + {rows}) % {rows} * {N};")
                    out(f"long long* {spikes} = {self.n(src, 'delayed')};")
                    out(f"const long long {count} = snnlist(spk, {N}, {spikes});  // the spikes of step - d")
                    spread(out)

    # ---- phase 5 and 6 -------------------------------------------------------------------------
    def print_PostEvents(self, out: Lines, op) -> None:
        from .plastic import post_events
        post_events(self, out, self.conns[op.connection], op)

    def print_RecordSpikes(self, out: Lines, op) -> None:
        k, name = op.monitor, op.population
        rec = self.array(self.n("", f"record{k}"), "long long", f"b['record{k}']", True)
        per_step = self.array(self.n("", f"record{k}_count"), "long long", f"b['record{k}_count']", True)
        fill, spk, count = self.n("", f"record{k}_fill"), self.n(name, "spk"), self.n(name, "count")
        out(f"memcpy({rec} + {fill}, {spk}, sizeof(long long) * {count});  // monitor {k}: spikes of {name}")
        out(f"{per_step}[step - start] = {count};")
        out(f"{fill} += {count};")

    def print_RecordState(self, out: Lines, op) -> None:
        k, m = op.monitor, self.plan.monitors[op.monitor]
        pop = self.pops[m.population]
        self.declare(pop, set(m.qualified))
        arrays = self.per_neuron(pop)
        rec = self.array(self.n("", f"record{k}"), "real", f"b['record{k}']", True)
        row = self.n("", f"record{k}_row")
        n, index = self.monitored(k, m)  # how many neurons it samples, the array index of the m-th
        def sample(o: Lines) -> None:
            with o.block(f"for (long long m = 0; m < {n}; m++)  // monitor {k}: {', '.join(m.variables)} of {pop.name}"):
                o(f"const long long i = {index};")
                for v, q in enumerate(m.qualified):
                    value = f"d_{q}[i]" if q in arrays else q  # a parameter that is one number: the number
                    o(f"{rec}[({row} * {len(m.qualified)} + {v}) * {n} + m] = {value};")
            o(f"{row}++;")

        if op.every > 1:
            with out.block(f"if (step % {op.every} == 0)"):
                sample(out)
        else:
            sample(out)

    # ---- the host's constants: which are per neuron ------------------------------------------------
    def per_neuron_constants(self, pop: PopulationPlan) -> list[str]:
        """Constants of a population computed from per-neuron parameters: arrays, not reals."""
        varying = {prm.name for prm in pop.params if prm.value is None}
        out = []
        for a in pop.constants:
            if names_in(a.expr) & varying:
                varying.add(a.target)
                out.append(a.target)
        return out


def scope(out: Lines):
    """A C block of its own: ``{`` ... ``}``."""
    out("{")
    return out.block(None)


def _uses_t(emitter, op) -> bool:
    """Whether an operation's statements read the time t."""
    name = type(op).__name__
    if name == "EvalInputs":
        return "t" in names_in(*(a.expr for a in emitter.pops[op.population].inputs))
    if name == "Integrate":
        pop = emitter.pops[op.population]
        return "t" in names_in(*(a.expr for a in pop.integrate + pop.reset), pop.threshold)
    return False
