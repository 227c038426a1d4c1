"""The kernels of populations (integrate, spike, reset, record, next inputs), sources and state monitors."""
from __future__ import annotations

from ...frontend.functions import symbol
from ...plan.ir import Assign, MonitorPlan, PopulationPlan, SourcePlan
from ..lines import Lines
from .kernel import Arg, EmitError, Kernel, names_in


class Neurons:
    # ---- kernels.cu ------------------------------------------------------------------------
    def build_kernels(self) -> None:
        self.kernels = []
        for pop in self.plan.populations:
            self.kernels.append(self.population_kernel(pop))
        for src in self.plan.sources:
            self.kernels.append(self.source_kernel(src))
        for c in self.conns:
            self.kernels += self.connection_kernels(c)
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "state":
                self.kernels.append(self.monitor_kernel(k, m))
        for kernel in self.kernels:
            kernel.args_name = self.n(kernel.name, "args")

    def find(self, name: str) -> Kernel:
        return next(k for k in self.kernels if k.name == name)

    # ---- populations -------------------------------------------------------------------------
    def population_kernel(self, pop: PopulationPlan) -> Kernel:
        name, N = pop.name, pop.size
        state = list(pop.state)
        per_neuron = [prm.name for prm in pop.params if prm.value is None]
        constants = [a.target for a in pop.constants]
        array_constants = [n for n in constants if n in self.per_neuron_constants]
        inputs = [a.name for a in pop.inputs]
        draws = {d.name for d in pop.input_draws}
        temps = [a.target for a in pop.integrate if a.target not in state]
        ref = self.n(name, "spiked_at") if pop.refractory is not None else None
        locals_ = set(state) | set(per_neuron) | set(array_constants) | set(inputs) | draws | set(temps)
        locals_ |= {self.n(name, "active"), self.n(name, "spiked"), "i"}
        used = names_in(*(a.expr for a in pop.integrate + pop.reset + pop.inputs), pop.threshold)
        per_neuron = [n for n in per_neuron if n in used]  # others only enter the run's constants
        array_constants = [n for n in array_constants if n in used]
        scalars = sorted(used - locals_ - {"t", "dt", "step"}, key=self._order(pop))
        for n in scalars:
            if n not in self.scalar_params:
                raise EmitError(f"population {name}: the update reads {n!r}, which the CuPy target cannot pass")
        monitors = [(k, m) for k, m in enumerate(self.plan.monitors) if m.kind == "spikes" and m.population == name]
        sampled = self._sampled_inputs(pop)

        args = [Arg("const long long", "step", "n", True), Arg("const real", "t", "REAL(t)", True),
                Arg("const real", "t_next", "REAL((step + 1) * dt)", True), Arg("const int", "advance", "np.int32(1)", True),
                Arg("const int", "slot", f"np.int32(step % {self.n(name, 'rows')})", True)]
        for a in inputs:
            args += [Arg("const real* __restrict__", f"d_{self.n(a, 'outside')}", self.n(a, "outside"), True),
                     Arg("const long long", self.n(a, "offset"), self.n(a, "offset"), True),
                     Arg("const int", self.n(a, "given"), self.n(a, "given"), True)]
        args += [Arg("const real", "dt", "REAL(dt)"), Arg("const unsigned long long", "seed", "seed")]
        args += [self._scalar_arg(n) for n in scalars]
        if ref:
            args.append(Arg("const long long", self.n(name, "ref_steps"), f"np.int64({self.n(name, 'ref_steps')})"))
        args += [self._pointer(n, True) for n in state]
        args += [self._pointer(n, False) for n in per_neuron + array_constants]
        args += [self._pointer(n, True) for n in inputs]
        args += [self._pointer(self.n(n, "now"), True) for n in sampled]
        if ref:
            args.append(self._pointer(ref, True))
        args += [self._pointer(self.n(name, "ring"), True), self._pointer(self.n(name, "ring_n"), True),
                 Arg("const int", "rows", f"np.int32({self.n(name, 'rows')})")]
        for k, _ in monitors:
            args += self._spike_record_args(k)
        finite = self.n(name, "finite") if pop.finite_check else None
        if finite:
            args.append(Arg("int* __restrict__", f"d_{self.n('', 'nonfinite')}", "b['nonfinite']"))

        out = Lines()
        out(f"const long long N = {N};")
        with out.block("for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < N; "
                       "i += (long long)blockDim.x * gridDim.x)"):
            for n in state + inputs:
                out(f"real {n} = d_{n}[i];")
            for n in per_neuron + array_constants:
                out(f"const real {n} = d_{n}[i];")
            with out.block("if (advance)"):
                out("// 3. integrate" + (" (gated variables held while refractory)" if ref else ""))
                if ref:
                    out(f"const bool {self.n(name, 'active')} = step - d_{ref}[i] > {self.n(name, 'ref_steps')};")
                declared = set(state) | set(inputs)
                for a in pop.integrate:
                    self._assign(out, a, declared)
                if finite:
                    out("// NaN or overflow: flagged for the host, which replays the chunk step by step; the neuron")
                    out("// neither spikes nor resets, so that the host finds the value")
                    out(f"const bool {finite} = {' && '.join(f'isfinite({v})' for v in pop.finite_check)};")
                    out(f"if (!{finite}) d_{self.n('', 'nonfinite')}[0] = 1;")
                out("// 4. spike condition, reset, refractoriness")
                if pop.threshold is not None:
                    cond = self.c(pop.threshold)
                    gates = ([self.n(name, "active")] if ref else []) + ([finite] if finite else [])
                    out(f"const bool {self.n(name, 'spiked')} = {''.join(g + ' && ' for g in gates)}{cond};")
                    with out.block(f"if ({self.n(name, 'spiked')})"):
                        for a in pop.reset:
                            out(f"{a.target} = {self.c(a.expr)};")
                        if ref:
                            out(f"d_{ref}[i] = step;  // refractory in the next {self.n(name, 'ref_steps')} steps")
                        out(f"d_{self.n(name, 'ring')}[slot * N + atomicAdd(&d_{self.n(name, 'ring_n')}[slot], 1)] = (int)i;")
                        for k, m in monitors:
                            self._spike_record(out, k, m)
                for n in state:
                    out(f"d_{n}[i] = {n};")
                for n in sampled:
                    out(f"d_{self.n(n, 'now')}[i] = {n};  // this step's value, for a state monitor")
            if pop.inputs:
                out("// 1. the input variables of the next step (its deliveries add to them)")
                for d in pop.input_draws:
                    out(f"const real {d.name} = (real)snn_{d.kind}(seed, {d.stream}ULL, "
                        "(unsigned long long)(step + 1), (unsigned long long)i);")
                for a in pop.inputs:
                    value = self.c(a.expr, names={"t": "t_next"})
                    out(f"d_{a.name}[i] = {self.n(a.name, 'given')} ? d_{self.n(a.name, 'outside')}[{self.n(a.name, 'offset')} + i] : {value};")
        out(f"if (advance && blockIdx.x == 0 && threadIdx.x == 0) d_{self.n(name, 'ring_n')}[(slot + 1) % rows] = 0;"
            "  // the row of the next step")
        grid = self.n(name, "grid")
        return Kernel(self.n(name, "step"), f"Population {name}: {N} x {pop.neuron}, {pop.method_reason}.\n"
                      "One step: integrate, spike, reset, refractoriness; then the next step's inputs.",
                      args, out, grid, "BLOCK")

    def _sampled_inputs(self, pop: PopulationPlan) -> list[str]:
        """Input variables that a state monitor samples, or a definition it samples reads (the
        population kernel keeps their value of the step)."""
        sampled = set()
        for m in self.plan.monitors:
            if m.kind == "state" and m.population == pop.name:
                sampled |= names_in(*self._recorded(m))
        return [a.name for a in pop.inputs if a.name in sampled]

    @staticmethod
    def _recorded(m: MonitorPlan) -> list:
        """What a state monitor records of each variable, as expressions of qualified names."""
        return m.values or [symbol(q) for q in m.qualified]

    def _order(self, owner):
        """Scalars in the order their owner declares them (parameters, then constants)."""
        order = {prm.name: k for k, prm in enumerate(owner.params)}
        consts = getattr(owner, "constants", []) + getattr(owner, "trace_constants", []) + getattr(owner, "syn_constants", [])
        for k, a in enumerate(consts):
            order[a.target] = 1000 + k
        return lambda n: (order.get(n, 10_000), n)

    def _assign(self, out: Lines, a: Assign, declared: set[str]) -> None:
        value = self.c(a.expr)
        if a.target not in declared:
            declared.add(a.target)
            if a.where is None:
                out(f"real {a.target} = {value};")
                return
            raise EmitError(f"{a.target} is assigned under a condition before it has a value")
        if a.where is None:
            out(f"{a.target} = {value};")
        else:
            out(f"{a.target} = {a.where} ? {value} : {a.target};")

    def _spike_record_args(self, k: int) -> list[Arg]:
        rec = self.n("", f"record{k}")
        return [Arg("long long* __restrict__", f"d_{rec}", f"b['record{k}']"),
                Arg("unsigned long long* __restrict__", f"d_{self.n(rec, 'n')}", f"b['record{k}_n']"),
                Arg("const unsigned long long", self.n(rec, "size"), f"np.uint64(b['record{k}'].size)")]

    def _spike_record(self, out: Lines, k: int, m: MonitorPlan) -> None:
        span = m.as_slice()
        if span is None:  # several selections: the neurons from the first to the last, spikes() keeps the monitored
            neurons = m.neurons()
            span = (neurons[0], neurons[-1] + 1, 1)
        start, stop, step = span
        conds = []
        if start > 0:
            conds.append(f"i >= {start}")
        if stop < self.sizes[m.population]:
            conds.append(f"i < {stop}")
        if step > 1:
            conds.append(f"(i - {start}) % {step} == 0")
        head = f"if ({' && '.join(conds)}) " if conds else ""
        out(f"{head}{{  // monitor {k}: step * N + i, copied to the host once a chunk")
        rec = self.n("", f"record{k}")
        out(f"    const unsigned long long at = atomicAdd(d_{self.n(rec, 'n')}, 1ULL);")
        out(f"    if (at < {self.n(rec, 'size')}) d_{rec}[at] = step * N + i;")
        out("}")

    # ---- sources --------------------------------------------------------------------------------
    def source_kernel(self, src: SourcePlan) -> Kernel:
        name, N = src.name, src.size
        monitors = [(k, m) for k, m in enumerate(self.plan.monitors) if m.kind == "spikes" and m.population == name]
        args = [Arg("const long long", "step", "n", True),
                Arg("const int", "slot", f"np.int32(step % {self.n(name, 'rows')})", True)]
        out = Lines()
        out(f"const long long N = {N};")
        if src.kind == "poisson":
            used = names_in(src.rate) - {"i", "t", "dt"}
            if used:
                raise EmitError(f"input {name}: the rate reads {sorted(used)}, which the CuPy target cannot pass")
            if "t" in names_in(src.rate):
                args.append(Arg("const real", "t", "REAL(t)", True))
            outside = getattr(src, "rate_key", None)
            if outside:
                args += [Arg("const real* __restrict__", f"d_{self.n(name, 'rate_outside')}", self.n(name, "rate_outside"), True),
                         Arg("const long long", self.n(name, "rate_offset"), self.n(name, "rate_offset"), True),
                         Arg("const int", self.n(name, "rate_given"), self.n(name, "rate_given"), True)]
            args += [Arg("const real", "dt", "REAL(dt)"), Arg("const unsigned long long", "seed", "seed")]
            doc = f"Input {name}: {N} Poisson sources; the same draws as the NumPy runtime's uniform()."
            with out.block("for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < N; "
                           "i += (long long)blockDim.x * gridDim.x)"):
                rate = self.c(src.rate)
                if outside:  # the rates set with Network.set_input(rate_key, ...), or the spec's
                    rate = f"{self.n(name, 'rate_given')} ? d_{self.n(name, 'rate_outside')}[{self.n(name, 'rate_offset')} + i] : {rate}"
                out(f"const double p = ({rate})*dt;  // spike probability this step")
                with out.block(f"if (snn_uniform(seed, {src.stream}ULL, (unsigned long long)step, "
                               "(unsigned long long)i) < p)"):
                    out(f"d_{self.n(name, 'ring')}[slot * N + atomicAdd(&d_{self.n(name, 'ring_n')}[slot], 1)] = (int)i;")
                    for k, m in monitors:
                        self._spike_record(out, k, m)
            out(f"if (blockIdx.x == 0 && threadIdx.x == 0) d_{self.n(name, 'ring_n')}[(slot + 1) % rows] = 0;")
            grid = self.n(name, "grid")
        else:
            args += [Arg("const int* __restrict__", f"d_{self.n(name, 'due')}", f"b[{self.n(name, 'due')!r}]", True),
                     Arg("const long long", "first", "first", True), Arg("const long long", "count", "count", True)]
            doc = f"Input {name}: the spikes due this step ({src.kind}), listed on the host once a run."
            with out.block("for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < count; "
                           "k += (long long)blockDim.x * gridDim.x)"):
                out(f"const long long i = d_{self.n(name, 'due')}[first + k];")
                out(f"d_{self.n(name, 'ring')}[slot * N + k] = (int)i;")
                for k, m in monitors:
                    self._spike_record(out, k, m)
            with out.block("if (blockIdx.x == 0 && threadIdx.x == 0)"):
                out(f"d_{self.n(name, 'ring_n')}[slot] = (int)count;")
                out(f"d_{self.n(name, 'ring_n')}[(slot + 1) % rows] = 0;")
            grid = "grid_of(count)"
        args += [self._pointer(self.n(name, "ring"), True), self._pointer(self.n(name, "ring_n"), True),
                 Arg("const int", "rows", f"np.int32({self.n(name, 'rows')})")]
        for k, _ in monitors:
            args += self._spike_record_args(k)
        return Kernel(self.n(name, "emit"), doc, args, out, grid, "BLOCK")

    # ---- monitors --------------------------------------------------------------------------
    def monitor_kernel(self, k: int, m: MonitorPlan) -> Kernel:
        """A state monitor's sample: state and input variables (their value of the step), parameters
        (per neuron, or one number), definitions (evaluated), of the monitored neurons."""
        span = m.as_slice()
        n_sel = len(range(*span)) if span else len(m.neurons())
        now = {symbol(a): symbol(self.n(a, "now")) for a in self._inputs()}  # kept by the population's kernel
        values = [e.xreplace(now) for e in self._recorded(m)]
        used = names_in(*values)
        arrays = [n for n in self.arrays if n in used]
        args = [Arg("const long long", "row", f"np.int64(len(self._sampled[{k}]))", True)]
        scalars = used - set(arrays) - {"i", "t"}
        if "t" in used:  # as the NumPy target's t = step * dt
            args.append(Arg("const long long", "step", "n", True))
            scalars.add("dt")
        args += [self._scalar_arg(n) for n in sorted(scalars)]
        neurons = self.n("", f"monitor{k}_neurons")
        if span is None:
            args.append(Arg("const long long* __restrict__", f"d_{neurons}", f"b['monitor{k}_neurons']"))
        args += [self._pointer(n, False) for n in arrays]
        rec = self.n("", f"record{k}")
        args.append(Arg("real* __restrict__", f"d_{rec}", f"b['record{k}']"))
        indexed = {n: "i" for n in arrays}
        out = Lines()
        out(f"const long long n = {n_sel}, V = {len(values)};")
        if "t" in used:
            out("const real t = step * dt;  // the time of the step")
        with out.block("for (long long m = blockIdx.x * (long long)blockDim.x + threadIdx.x; m < n; "
                       "m += (long long)blockDim.x * gridDim.x)"):
            if span is None:
                out(f"const long long i = d_{neurons}[m];")
            else:
                out(f"const long long i = {span[0]} + m * {span[2]};")
            for v, e in enumerate(values):
                out(f"d_{rec}[(row * V + {v}) * n + m] = {self.c(e, indexed)};")
        where = ", ".join(f"[{a}:{b}:{c}]" for a, b, c in ([span] if span else m.selections))
        return Kernel(self.n("", f"monitor{k}"), f"Monitor {k}: {', '.join(m.variables)} of {m.population}"
                      f"{where} every {m.every} steps, into row `row` of a device buffer.",
                      args, out, f"grid_of({n_sel})", "BLOCK")
