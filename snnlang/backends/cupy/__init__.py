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

from ...plan.ir import ConnectionPlan, Plan
from ..printer import cuda_code
from .host import Host
from .kernel import DTYPES, Arg, Array, EmitError, Kernel, names_in  # noqa: F401  (Kernel, EmitError: for tests)
from .neurons import Neurons
from .refuse import check_inputs
from .synapses import Synapses
from ..numpy.synapse_params import per_synapse

TARGET = "cupy"


class CupyEmitter(Neurons, Synapses, Host):
    def __init__(self, plan: Plan, precision: str = "double"):
        if precision not in ("double", "float"):
            raise ValueError(f"precision must be 'double' or 'float', not {precision!r}")
        check_inputs(plan)  # poisson counts and poisson_drive: refused, located (refuse.py)
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
        #: connection parameters the kernels read per synapse, each from a device array of one value
        #: or one per synapse (set as an array: synapse_params.py): name -> (array, step between synapses)
        self.per_synapse = per_synapse(plan)
        self.each: dict[str, tuple[str, str]] = {
            prm.name: (self.n(prm.name, "each"), self.n(prm.name, "stride"))
            for c in plan.connections for prm in c.params if self.per_synapse[prm.key][1] is None}
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
            for prm in c.params:
                if prm.name in self.each:
                    self._array(self.each[prm.name][0], store="b")
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
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "synapses":  # the synapses it records, their pre and post neurons (the NumPy builders' keys)
                for role in ("synapses", "pre", "post"):
                    self._array(self.n("", f"monitor{k}_{role}"), "long")
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

    def dtypes(self) -> dict[str, str]:
        return {name: ("REAL" if a.kind == "real" else DTYPES[a.kind]) for name, a in self.arrays.items() if a.store == "s"}

    def context(self) -> dict:
        from ...plan.randomness import constants
        from .. import environment
        from ..numpy import NumpyEmitter

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
            "synapse_arrays_refused": "",  # per-synapse parameter arrays: as PER_SYNAPSE says
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
