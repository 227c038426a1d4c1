"""The CuPy target: prints a Plan as CUDA kernels (``kernels.cu``) and a host driver.

The generated package holds the kernels as a plain CUDA C file and a host
driver (``network.py``) that builds the network on the host with the NumPy
target's own builders, uploads it once, and then launches the kernels step by
step through one small interface, ``device.launch(kernel, grid, block, args)``
(plus ``device.xp``, the array module, and ``device.to_host``). On a GPU the
device is CuPy (NVRTC, ``RawModule``); snnlang's tests swap in a device that
compiles the same ``kernels.cu`` for the CPU, so the step logic they check is
the logic that runs on the GPU.

What runs where, per step (the plan's order, docs/semantics.md):

* deliveries (``on_pre``) read the spike ring of their source, event-driven
  over the CSR rows of the neurons that spiked (one block per spike, threads over
  the row, ``atomicAdd`` into the targets), or as a dense product for dense
  layers; delays index the ring, which holds each source's spikes for as many
  steps as its longest delay;
* one kernel per population integrates, tests the spike condition, resets,
  counts refractoriness, appends spikes to the ring and the monitors, and
  evaluates the input variables for the next step (the deliveries of that step
  then add to them, in the NumPy target's order);
* sources emit (Poisson draws with the same counter-based hash as the NumPy
  runtime), ``on_post`` effects run, state monitors sample into device buffers.

Every kernel loops grid-stride, so it is correct for any launch shape; the host
never waits for the device inside a chunk of steps. Decisions stay in the
plan; this module lays the plan's statements out as C through
:class:`~snnlang.backends.printer.CudaPrinter`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..plan.ir import Assign, ConnectionPlan, EventStatement, MonitorPlan, Plan, PopulationPlan, SourcePlan
from .lines import Lines
from .printer import cuda_code, numpy_code

TARGET = "cupy"

#: C type and NumPy dtype of each kind of device array ("real" is double or float).
CTYPES = {"real": "real", "int": "int", "long": "long long", "u64": "unsigned long long"}
DTYPES = {"int": "np.int32", "long": "np.int64", "u64": "np.uint64"}



class EmitError(ValueError):
    """A plan feature the CuPy target cannot express (raised at build time, with the reason)."""


@dataclass
class Arg:
    """One kernel parameter: its C declaration and the host expression that passes it."""

    ctype: str  # "const real", "real* __restrict__", ...
    name: str  # the C name
    host: str  # the Python expression of the host driver
    per_step: bool = False  # changes every launch (passed first)

    @property
    def decl(self) -> str:
        return f"{self.ctype} {self.name}"


@dataclass
class Kernel:
    name: str
    doc: str
    args: list[Arg]
    body: Lines
    grid: str  # Python expressions of the launch shape
    block: str
    args_name: str = ""  # the host's tuple of the arguments a run keeps (named by the symbol table)

    def __post_init__(self):  # what changes at every launch first, then what a run keeps
        self.args = [a for a in self.args if a.per_step] + [a for a in self.args if not a.per_step]

    def source(self) -> str:
        params = ",\n".join("    " + a.decl for a in self.args)
        doc = "\n".join(f"// {line}" for line in self.doc.splitlines())
        return f'{doc}\nextern "C" __global__ void {self.name}(\n{params})\n{{\n{self.body.text(1)}\n}}\n'

    def static(self) -> str:
        """The Python tuple of the arguments that stay the same for a whole run."""
        hosts = [a.host for a in self.args if not a.per_step]
        return "(" + "".join(h + ", " for h in hosts) + ")"

    def call(self, **step_values: str) -> str:
        """The launch statement; per-step arguments come from ``step_values`` by C name (or their host text)."""
        per_step = [step_values.get(a.name, a.host) for a in self.args if a.per_step]
        first = "(" + "".join(v + ", " for v in per_step) + ")"
        return f"launch({self.name!r}, {self.grid}, {self.block}, {first} + {self.args_name})"


def names_in(*exprs) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        if e is not None:
            out |= {s.name for s in e.free_symbols}
    return out


@dataclass
class Array:
    """A device array: where the driver keeps it and its element type."""

    name: str
    kind: str  # real | int | long | u64
    store: str = "s"  # s: state (saved); b: buffers (rebuilt)

    @property
    def ctype(self) -> str:
        return CTYPES[self.kind]


class CupyEmitter:
    def __init__(self, plan: Plan, precision: str = "double"):
        if precision not in ("double", "float"):
            raise ValueError(f"precision must be 'double' or 'float', not {precision!r}")
        self.plan = plan
        self.n = plan.symbols  # every name this target makes: n(owner, role)
        #: generated name -> the spec's name
        self.spec_name = {q: v for owner in plan.populations + plan.connections for v, q in owner.local.items()}
        self.precision = precision
        self.sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
        self.conns = plan.connections
        self.arrays: dict[str, Array] = {}
        self.connection_inputs = {a.name for c in plan.connections for a in getattr(c, "inputs", [])}
        self.scalar_params: set[str] = set()  # parameters and constants passed by value
        self.per_neuron_constants: dict[str, str] = {}  # constant -> population
        self.kernels: list[Kernel] = []
        self._declare()

    def _array(self, name: str, kind: str = "real", store: str = "s") -> None:
        if name in self.arrays and self.arrays[name].kind != kind:
            raise EmitError(f"the name {name!r} is used for two device arrays")
        self.arrays[name] = Array(name, kind, store)

    def _declare(self) -> None:
        """Every device array of the driver, with its type."""
        for pop in self.plan.populations:
            per_neuron = {prm.name for prm in pop.params if prm.value is None}
            self.scalar_params |= {prm.name for prm in pop.params if prm.value is not None}
            for a in pop.arrays:
                self._array(a.name)
            for a in pop.inputs:
                self._array(a.name, store="b")  # this step's value, then the next step's
            for n in self._sampled_inputs(pop):
                self._array(self.n(n, "now"), store="b")  # this step's value, kept for a state monitor
            if pop.refractory is not None:
                self._array(self.n(pop.name, "spiked_at"), "long")  # step of the last spike
            for a in pop.constants:  # per neuron when it depends on a per-neuron value
                if names_in(a.expr) & (per_neuron | set(self.per_neuron_constants)):
                    self.per_neuron_constants[a.target] = pop.name
                    self._array(a.target, store="b")
                else:
                    self.scalar_params.add(a.target)
        for name in self.sizes:
            self._array(self.n(name, "ring"), "int")  # spikes of the last steps, one row per step
            self._array(self.n(name, "ring_n"), "int")  # how many in each row
        for c in self.conns:
            self.scalar_params |= {prm.name for prm in c.params}
            self.scalar_params |= {a.target for a in c.trace_constants + c.syn_constants}
            for a in c.arrays:
                self._array(a.name, "int" if a.dtype == "int" else "real")
            for tr in c.traces:
                self._array(tr.name, "long" if tr.dtype == "int" else "real")
            for key in ("pre", "post"):
                self._array(self.n(c.name, key), "int")
            self._array(self.n(c.name, "group_ptr"), "long")
            self._array(self.n(c.name, "group_delay"), "long")
            if c.on_post:
                self._array(self.n(c.name, "by_post"), "long")
                self._array(self.n(c.name, "post_ptr"), "long")
            if self._dense(c):
                self._array(self.n(c.name, "weight"), store="b")
        self._array("synops", "u64", "b")

    def _dense(self, c: ConnectionPlan) -> bool:
        """The plan delivers the connection as a dense product (static, weighted, one delay)."""
        op = self.plan.schedule.delivery(c.name)
        return op is not None and op.strategy == "dense"

    def c(self, expr, indexed: dict[str, str] | None = None, names: dict[str, str] | None = None) -> str:
        return cuda_code(expr, indexed, self.precision, names)

    def _scalar_arg(self, name: str) -> Arg:
        if name == "step":
            return Arg("const long long", "step", "n", per_step=True)
        if name == "t":
            return Arg("const real", "t", "REAL(t)", per_step=True)
        if name == "dt":
            return Arg("const real", "dt", "REAL(dt)")
        if name in self.scalar_params:
            return Arg("const real", name, f"REAL({name})")
        if name in self.connection_inputs:  # one value per step for a whole connection, from the host
            return Arg("const real", name, f"REAL({name})", per_step=True)
        raise EmitError(f"the generated kernels have no value for the name {name!r}")

    def _pointer(self, name: str, written: bool) -> Arg:
        a = self.arrays[name]
        const = "" if written else "const "
        return Arg(f"{const}{a.ctype}* __restrict__", f"d_{name}", name)

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
        for m in self.plan.monitors:
            if m.kind == "state" and m.population == name:
                bad = [q for q in m.qualified if q not in state and q not in inputs]
                if bad:
                    raise EmitError(f"monitor of {name}: the CuPy target records state and input variables, not {bad}")

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
                out("// 4. spike condition, reset, refractoriness")
                if pop.threshold is not None:
                    cond = self.c(pop.threshold)
                    out(f"const bool {self.n(name, 'spiked')} = {self.n(name, 'active') + ' && ' if ref else ''}{cond};")
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
        """Input variables that a state monitor samples (the population kernel keeps their value of the step)."""
        sampled = {q for m in self.plan.monitors if m.kind == "state" and m.population == pop.name for q in m.qualified}
        return [a.name for a in pop.inputs if a.name in sampled]

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
        conds = []
        if m.start > 0:
            conds.append(f"i >= {m.start}")
        if m.stop < self.sizes[m.population]:
            conds.append(f"i < {m.stop}")
        if m.step > 1:
            conds.append(f"(i - {m.start}) % {m.step} == 0")
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

    # ---- connections ------------------------------------------------------------------------
    def connection_kernels(self, c: ConnectionPlan) -> list[Kernel]:
        kernels = []
        if c.trace_decay:
            kernels.append(self.elementwise(self.n(c.name, "decay"), c, c.trace_decay, "trace"))
        if c.on_pre:
            if self._dense(c):
                kernels.append(self.weight_kernel(c))
                kernels.append(self.dense_kernel(c))
            elif c.linear is not None:
                kernels.append(self.linear_kernel(c))
            else:
                kernels += self.event_kernels(c, c.on_pre, "pre")
        if c.syn_integrate:
            kernels.append(self.elementwise(self.n(c.name, "integrate"), c, c.syn_integrate, "syn"))
        if c.on_post:
            kernels += self.event_kernels(c, c.on_post, "post")
        return kernels

    def _connection_scalars(self, c: ConnectionPlan, used: set[str], local: set[str],
                            indexed: dict[str, str]) -> list[Arg]:
        scalars = sorted(used - local - set(indexed), key=self._order(c))
        return [self._scalar_arg(n) for n in scalars]

    def _indexed(self, c: ConnectionPlan, event: str | None = None) -> dict[str, str]:
        """Names read per element in this connection's kernels, with their index variable."""
        out = {}
        for n, ix in c.indexed.items():
            if n in self.scalar_params:
                continue  # a population parameter shared by all neurons: passed by value
            out[n] = ix
        return out

    def _arrays_of(self, c: ConnectionPlan, exprs, writes: set[str], indexed: dict[str, str]) -> list[Arg]:
        used = names_in(*exprs) | writes
        names = [n for n in self.arrays if n in used and n in indexed]
        for n in used & set(indexed):
            if n not in self.arrays:
                raise EmitError(f"connection {c.name}: no device array for {n!r}")
        return [self._pointer(n, n in writes) for n in names]

    def _ring_args(self, source: str) -> list[Arg]:
        return [Arg("const int", "slot", "slot", True),
                Arg("const int* __restrict__", f"d_{self.n(source, 'ring')}", self.n(source, "ring")),
                Arg("const int* __restrict__", f"d_{self.n(source, 'ring_n')}", self.n(source, "ring_n"))]

    def _synops_arg(self) -> Arg:
        return Arg("unsigned long long* __restrict__", "d_synops", "b['synops']")

    def dense_kernel(self, c: ConnectionPlan) -> Kernel:
        target, _ = c.linear
        weight = self.n(c.name, "weight")
        args = self._ring_args(c.source)
        args += [self._pointer(weight, False), self._pointer(target, True), self._synops_arg()]
        out = Lines()
        out(f"const long long n = d_{self.n(c.source, 'ring_n')}[slot], N_pre = {self.sizes[c.source]}, "
            f"N_post = {self.sizes[c.target]};")
        out(f"const int* spikes = d_{self.n(c.source, 'ring')} + slot * N_pre;")
        with out.block("for (long long post = blockIdx.x * (long long)blockDim.x + threadIdx.x; post < N_post; "
                       "post += (long long)blockDim.x * gridDim.x)"):
            out("real sum = 0;  // the weights of the spiking rows, in spike order (as NumPy's sum over them)")
            with out.block("for (long long k = 0; k < n; ++k)"):
                out(f"sum += d_{weight}[spikes[k] * N_post + post];")
            out(f"if (n) d_{target}[post] += sum;")
        out("if (blockIdx.x == 0 && threadIdx.x == 0 && n) atomicAdd(d_synops, (unsigned long long)(n * N_post));")
        return Kernel(self.n(c.name, "on_pre"), f"Connection {c.name}: {c.source} -> {c.target}, dense: "
                      f"{target} += the weights of the rows that spiked.", args, out, self.n(c.name, "grid"), "BLOCK")

    def weight_kernel(self, c: ConnectionPlan) -> Kernel:
        _, weight = c.linear
        indexed = {n: "syn" for n in c.state}
        used = names_in(weight)
        args = [Arg("const long long", "n_syn", f"np.int64({self.n(c.name, 'post')}.size)")]
        args += self._connection_scalars(c, used, {"syn"} | set(c.state), {})
        args += [self._pointer(self.n(c.name, "pre"), False), self._pointer(self.n(c.name, "post"), False)]
        args += [self._pointer(n, False) for n in c.state if n in used]
        args.append(self._pointer(self.n(c.name, "weight"), True))
        out = Lines()
        out(f"const long long N_post = {self.sizes[c.target]};")
        with out.block("for (long long syn = blockIdx.x * (long long)blockDim.x + threadIdx.x; syn < n_syn; "
                       "syn += (long long)blockDim.x * gridDim.x)"):
            out(f"atomicAdd(&d_{self.n(c.name, 'weight')}[d_{self.n(c.name, 'pre')}[syn] * N_post + d_{self.n(c.name, 'post')}[syn]], "
                f"(real)({self.c(weight, indexed)}));")
        return Kernel(self.n(c.name, "weight"), f"Connection {c.name}: the weight matrix (pre x post, zero where no synapse,\n"
                      "repeated pairs added), once a run.", args, out, f"grid_of({self.n(c.name, 'post')}.size)", "BLOCK")

    def linear_kernel(self, c: ConnectionPlan) -> Kernel:
        target, weight = c.linear
        indexed = self._indexed(c)
        stmt = EventStatement(side="target", target=target, index="post", op="+=", expr=weight)
        return self._event_kernel(c, self.n(c.name, "on_pre"), [stmt], "pre", "synapse", True, indexed,
                                  f"Connection {c.name}: {c.source} -> {c.target}, event-driven: "
                                  f"{target} += {weight} over the rows that spiked,\n"
                                  "for every delay group in one launch (the additions commute).", all_groups=True)

    def event_kernels(self, c: ConnectionPlan, statements: list[EventStatement], event: str) -> list[Kernel]:
        indexed = self._indexed(c)
        phases = self._phases(c, statements, event)
        kernels = []
        for k, (kind, stmts) in enumerate(phases):
            suffix = f"_{k + 1}" if len(phases) > 1 else ""
            what = "per spike" if kind == "spike" else "per synapse"
            kernels.append(self._event_kernel(
                c, f"{self.n(c.name, 'on_')}{event}{suffix}", stmts, event, kind, k == 0, indexed,
                f"Connection {c.name}: on_{event}, {what}" + (f" (part {k + 1} of {len(phases)})" if suffix else "")
                + "."))
        return kernels

    def _phases(self, c: ConnectionPlan, statements: list[EventStatement], event: str):
        """Statements in kernels: per-spike ones and per-synapse ones apart, in order; a new kernel
        also where a statement reads what an earlier scatter of the same kernel adds to."""
        phases: list[tuple[str, list[EventStatement]]] = []
        scattered: set[str] = set()  # what the scatters of the current kernel add to
        read: set[str] = set()  # what its statements read
        for st in statements:
            kind = "spike" if st.side == event else "synapse"
            if st.side not in (event, "synapse", "target"):
                raise EmitError(f"connection {c.name}: on_{event} statement of kind {st.side!r}")
            reads = names_in(st.expr)
            conflict = reads & scattered or (st.side == "target" and st.target in read)
            if not phases or phases[-1][0] != kind or conflict:  # threads would see each other's scatters
                phases.append((kind, []))
                scattered, read = set(), set()
            phases[-1][1].append(st)
            read |= reads
            if st.side == "target":
                scattered.add(st.target)
        return phases

    def _event_kernel(self, c: ConnectionPlan, name: str, stmts: list[EventStatement], event: str, kind: str,
                      count: bool, indexed: dict[str, str], doc: str, all_groups: bool = False) -> Kernel:
        other = "post" if event == "pre" else "pre"
        source = c.source if event == "pre" else c.target
        n_event = self.sizes[source]  # whole populations: the ring and the rows are by neuron
        writes = set()
        body = Lines()
        ij = {"i": "pre", "j": "post"}
        for st in stmts:
            if st.side == "target" and st.index == event:
                raise EmitError(f"connection {c.name}: a scatter to the spiking side in on_{event}")
            if kind == "spike":
                bad = {n for n in names_in(st.expr) if indexed.get(n) not in (None, event)}
                if bad:
                    raise EmitError(f"connection {c.name}: a per-spike statement of on_{event} reads "
                                    f"per-synapse values {sorted(bad)}")
            if st.side == "target":
                if st.target in self._inputs() and event == "post":
                    body(f"// {st.target} {st.op} ...: an input variable of the presynaptic neuron, which "
                         "takes a new value next step (as on the NumPy target)")
                    continue
                sign = "-" if st.op == "-=" else ""
                body(f"atomicAdd(&d_{st.target}[{st.index}], (real)({sign}({self.c(st.expr, indexed, ij)})));")
            else:
                body(f"d_{st.target}[{st.index}] = {self.c(st.expr, indexed, ij)};")
            writes.add(st.target)
        used = names_in(*(st.expr for st in stmts))
        for n in used:
            if n in self._inputs() and event == "post":
                raise EmitError(f"connection {c.name}: on_post reads the input variable {n!r}; the CuPy target "
                                "keeps input variables for the next step by then")
        local = {"pre", "post", "syn", "i", "j"}
        if all_groups:
            args = [Arg("const long long", "step", "n", True), Arg("const long long", "rows", f"np.int64({self.n(source, 'rows')})"),
                    Arg("const long long", "groups", f"np.int64(len({self.n(c.name, 'delays')}))"),
                    self._pointer(self.n(c.name, "group_delay"), False)] + self._ring_args(source)[1:]
        else:
            args = self._ring_args(source)
        rows = kind == "synapse" or count  # the kernel reads the synapses of the spiking neurons
        if event == "pre" and rows:
            if not all_groups:
                args.append(Arg("const long long", "group", "np.int64(g)", True))
            args.append(Arg("const long long* __restrict__", f"d_{self.n(c.name, 'group_ptr')}", self.n(c.name, "group_ptr")))
        elif rows:
            args.append(self._pointer(self.n(c.name, "post_ptr"), False))
            if kind == "synapse":
                args.append(self._pointer(self.n(c.name, "by_post"), False))
        needs_other = kind == "synapse" and (other in {indexed.get(n) for n in used} | {st.index for st in stmts}
                                             or {"i", "j"} & used)
        if needs_other:
            args.append(self._pointer(self.n(c.name, other), False))
        args += self._connection_scalars(c, used, local, indexed)
        args += self._arrays_of(c, [st.expr for st in stmts], writes, indexed)
        if count:
            args.append(self._synops_arg())

        out = Lines()
        out(f"const long long N_{event} = {n_event};")
        if count:
            out("unsigned long long events = 0;")
        outer = out
        if all_groups:
            block = out.block("for (long long group = 0; group < groups; ++group)  // each delay group: "
                              "the spikes of its delay ago")
            block.__enter__()
            out("long long slot = (step - d_{0}_group_delay[group]) % rows;".format(c.name))
            out("if (slot < 0) slot += rows;  // before the first step: an empty row")
        out(f"const long long n = d_{self.n(source, 'ring_n')}[slot];")
        if kind == "synapse" or count:
            if event == "pre":
                out(f"const long long* ptr = d_{self.n(c.name, 'group_ptr')} + group * (N_pre + 1);  // the rows of this delay group")
            else:
                out(f"const long long* ptr = d_{self.n(c.name, 'post_ptr')};  // the columns, through by_post")
        if kind == "spike":
            with out.block("for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < n; "
                           "k += (long long)blockDim.x * gridDim.x)"):
                out(f"const long long {event} = d_{self.n(source, 'ring')}[slot * N_{event} + k];")
                if count:
                    out(f"events += ptr[{event} + 1] - ptr[{event}];")
                for line in body.lines:
                    out(line)
        else:
            with out.block("for (long long k = blockIdx.x; k < n; k += gridDim.x)  // a block per spike"):
                out(f"const long long {event} = d_{self.n(source, 'ring')}[slot * N_{event} + k];")
                out(f"const long long lo = ptr[{event}], hi = ptr[{event} + 1];")
                if count:
                    out("if (threadIdx.x == 0) events += hi - lo;")
                with out.block("for (long long m = lo + threadIdx.x; m < hi; m += blockDim.x)  // its synapses"):
                    if event == "pre":
                        out("const long long syn = m;")
                    else:
                        out(f"const long long syn = d_{self.n(c.name, 'by_post')}[m];")
                    if needs_other:
                        out(f"const long long {other} = d_{self.n(c.name, other)}[syn];")
                    for line in body.lines:
                        out(line)
        if all_groups:
            block.__exit__(None, None, None)
        if count:
            outer("if (events) atomicAdd(d_synops, events);")
        grid = self.n(c.name, f"grid_{event}") if kind == "synapse" else self.n(c.name, f"grid_{event}_spikes")
        block = self.n(c.name, f"lanes_{event}") if kind == "synapse" else "BLOCK"
        return Kernel(name, doc, args, out, grid, block)

    def _inputs(self) -> set[str]:
        return {a.name for p in self.plan.populations for a in p.inputs}

    def elementwise(self, name: str, c: ConnectionPlan, statements: list[Assign], kind: str) -> Kernel:
        """Per-element statements of a connection: trace decay (per neuron) or synaptic equations (per synapse)."""
        per_synapse = set(getattr(c, "per_synapse_traces", []))
        if kind == "trace":
            side_of = {n: ("syn" if n in per_synapse else side) for n, side in c.trace_side.items()}
            sides = {}
            for a in statements:  # a temporary takes the side of the traces it reads
                touched = {n for n in names_in(a.expr) | {a.target} if n in side_of or n in sides}
                found = {side_of.get(n) or sides.get(n) for n in touched}
                if len(found) != 1:
                    raise EmitError(f"connection {c.name}: a trace statement mixes pre and post traces")
                sides[a.target] = found.pop()
            size = {"pre": str(self.sizes[c.source]), "post": str(self.sizes[c.target]), "syn": "n_syn"}
            index = "k"
        else:
            index = "syn"
        arrays = set(c.state) | set(c.trace_side) | {n for n in c.indexed if n in self.arrays}
        temps = [a.target for a in statements if a.target not in arrays]
        used = names_in(*(a.expr for a in statements))
        writes = {a.target for a in statements if a.target in arrays}
        if kind == "trace":
            indexed = {n: "k" for n in arrays}
        else:
            indexed = {n: ("syn" if n in c.state else c.indexed.get(n, "syn")) for n in arrays}
            for n in used & self._inputs():
                raise EmitError(f"connection {c.name}: synaptic equations read the input variable {n!r}")
        args = []
        if kind == "syn" or (kind == "trace" and "syn" in sides.values()):
            args.append(Arg("const long long", "n_syn", f"np.int64({self.n(c.name, 'post')}.size)"))
        args += self._connection_scalars(c, used, set(temps) | {"syn", "k"}, indexed)
        pointer_names = [n for n in self.arrays if n in (used | writes) and n in arrays]
        sides_of = {indexed[n] for n in pointer_names if kind == "syn"} - {"syn"}
        for side in sorted(sides_of):
            args.append(self._pointer(self.n(c.name, side), False))
        args += [self._pointer(n, n in writes) for n in pointer_names]
        out = Lines()
        declared: set[str] = set()

        def emit(stmts):
            for a in stmts:
                value = self.c(a.expr, indexed)
                if a.target in arrays:
                    out(f"d_{a.target}[{index}] = {value};")
                elif a.target in declared:
                    out(f"{a.target} = {value};")
                else:
                    declared.add(a.target)
                    out(f"real {a.target} = {value};")

        if kind == "trace":
            N = max(self.sizes[c.source], self.sizes[c.target])
            bound, grid = str(N), f"grid_of({N})"
            if "syn" in sides.values():
                out(f"const long long K = n_syn > {N} ? n_syn : {N};")
                bound, grid = "K", f"grid_of(max({self.n(c.name, 'post')}.size, {N}))"
            with out.block(f"for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < {bound}; "
                           "k += (long long)blockDim.x * gridDim.x)"):
                for side in ("pre", "post", "syn"):
                    part = [a for a in statements if sides[a.target] == side]
                    what = {"pre": "presynaptic traces", "post": "postsynaptic traces",
                            "syn": "presynaptic traces kept per synapse"}[side]
                    if part:
                        with out.block(f"if (k < {size[side]})  // {what}"):
                            emit(part)
        else:
            with out.block("for (long long syn = blockIdx.x * (long long)blockDim.x + threadIdx.x; syn < n_syn; "
                           "syn += (long long)blockDim.x * gridDim.x)"):
                for side in sorted(sides_of):
                    out(f"const long long {side} = d_{self.n(c.name, side)}[syn];")
                emit(statements)
            grid = f"grid_of({self.n(c.name, 'post')}.size)"
        doc = (f"Connection {c.name}: traces decay by one step." if kind == "trace"
               else f"Connection {c.name}: the synaptic equations, one step.")
        return Kernel(name, doc, args, out, grid, "BLOCK")

    # ---- monitors --------------------------------------------------------------------------
    def monitor_kernel(self, k: int, m: MonitorPlan) -> Kernel:
        n_sel = len(range(m.start, m.stop, m.step))
        args = [Arg("const long long", "row", f"np.int64(len(self._sampled[{k}]))", True)]
        inputs = self._inputs()
        names = [self.n(q, "now") if q in inputs else q for q in m.qualified]
        args += [self._pointer(q, False) for q in names]
        rec = self.n("", f"record{k}")
        args.append(Arg("real* __restrict__", f"d_{rec}", f"b['record{k}']"))
        out = Lines()
        out(f"const long long n = {n_sel}, V = {len(m.qualified)};")
        with out.block("for (long long m = blockIdx.x * (long long)blockDim.x + threadIdx.x; m < n; "
                       "m += (long long)blockDim.x * gridDim.x)"):
            out(f"const long long i = {m.start} + m * {m.step};")
            for v, q in enumerate(names):
                out(f"d_{rec}[(row * V + {v}) * n + m] = d_{q}[i];")
        return Kernel(self.n("", f"monitor{k}"), f"Monitor {k}: {', '.join(m.variables)} of {m.population}"
                      f"[{m.start}:{m.stop}:{m.step}] every {m.every} steps, into row `row` of a device buffer.",
                      args, out, f"grid_of({n_sel})", "BLOCK")

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
                out(f"{self.n(a.name, 'input')} = Outside(self.inputs.get({key!r}), {pop.size}, xp, REAL)")
        for c in self.conns:
            if c.params or c.trace_constants or c.syn_constants:
                out(f"# {c.name}: {c.synapse}")
            for prm in c.params:
                out(f"{prm.name} = p[{prm.key!r}]")
            for a in c.trace_constants + c.syn_constants:
                out(f"{a.target} = {numpy_code(a.expr)}")
            out(f"{self.n(c.name, 'delays')} = self.host[{self.n(c.name, 'group_delay')!r}]")
            for a in getattr(c, "inputs", []):
                key = f"{c.name}.{self.spec_name[a.name]}"
                out(f"{self.n(a.name, 'outside')} = self.inputs.get({key!r})  # one value per step for the connection")
        for src in self.plan.sources:
            if src.kind == "poisson" and getattr(src, "rate_key", None):
                out(f"{self.n(src.name, 'rate_input')} = Outside(self.inputs.get({src.rate_key!r}), {src.size}, xp, REAL)")
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
                f"else rt.scalar_input_at({self.n(a.name, 'outside')}, step)")

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

    def dtypes(self) -> dict[str, str]:
        return {name: ("REAL" if a.kind == "real" else DTYPES[a.kind]) for name, a in self.arrays.items() if a.store == "s"}

    def context(self) -> dict:
        from ..plan.randomness import constants
        from . import environment
        from .numpy import NumpyEmitter

        self.build_kernels()
        plan = self.plan
        # The host builds the network with the NumPy target's own code: its reset and its runtime.
        numpy_emitter = NumpyEmitter(plan)
        numpy_context = numpy_emitter.context()
        numpy_context.update(header="", package="", rng=constants())
        host_runtime = environment().get_template("numpy/runtime.py.j2").render(**numpy_context).lstrip("\n")
        fixed = [self.n(c.name, k) for c in self.conns
                 for k in ("pre", "post", "group_ptr", "group_delay", "by_post", "post_ptr")]
        return {
            **numpy_emitter.describe(),
            "precision": self.precision,
            "group_delays": [self.n(c.name, "group_delay") for c in self.conns],
            "due": {src.name: ((self.n(src.name, "event_step"), self.n(src.name, "event_index")), self.n(src.name, "due"))
                    for src in plan.sources if src.kind != "poisson"},
            "real": "np.float64" if self.precision == "double" else "np.float32",
            "dtypes": self.dtypes(),
            "fixed": [n for n in fixed if n in self.arrays],
            "kernel_names": [k.name for k in self.kernels],
            "inputs": {n: self.sizes[p.name] for p in plan.populations
                       for n in [a.name for a in p.inputs] + [self.n(x, "now") for x in self._sampled_inputs(p)]},
            "kernels_code": self.kernels_source(),
            "host_runtime": host_runtime,
            "reset_code": numpy_context["reset_code"],
            "reset_tail": self.reset_tail(),
            "prologue_code": self.prologue(),
            "before_code": self.before(),
            "loop_code": self.loop(),
        }
