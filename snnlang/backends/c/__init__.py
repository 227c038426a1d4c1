"""The native CPU target: prints a Plan as one C11 function that runs N steps, and a Python driver.

The generated package holds ``step.c``: ``snnrun()`` advances the whole network from step
``start`` to ``stop`` with no Python per step (inputs, delivery through the spike history,
integration, threshold, reset and refractoriness, Poisson and spike-time sources, spike
and state monitors buffered natively). ``native.py`` compiles it with the system C compiler
into a shared library beside it (at build time: ``snnlang build`` calls
:func:`compile_package`, and the package compiles itself when imported without one) and
loads it with ``ctypes``; the package needs only NumPy at run time.

The network is built on the host with the NumPy target's own builders (its reset code and
runtime, as the CuPy target does), so connectivity, initial values and the random numbers
are the NumPy target's; ``step.c`` draws Poisson spikes and per-step random inputs with the
same counter-based hash. ``source.py`` prints the C step (one method per operation of the
schedule), ``host.py`` the Python that hands arrays and constants to it.

Plasticity (event statements, traces, synapse equations) is printed by :mod:`.plastic`; what
the target does not print yet (:func:`.refuse.problems`: some event statements, counted
Poisson sources, ``poisson_drive``, monitors of several selections) is refused at build with a
located error. ``precision = float32`` makes ``real`` a float (docs/native.md).

Under ``mpirun`` the package splits the network over the processes as the NumPy target's does
(its ``parallel.py`` ships here): :mod:`.split` prints ``snnpart()``, one process's part, and the
host code that exchanges spikes between its calls.
"""
from __future__ import annotations

from ...plan.ir import Plan
from ...plan.schedule import Deliver
from ..printer import cuda_code
from .host import Host
from .refuse import check_supported
from .source import Source
from .split import Split, problems as split_problems

TARGET = "c"


class CEmitter(Split, Source, Host):
    def __init__(self, plan: Plan):
        check_supported(plan)
        if plan.precision == "float32":
            _check_float32(plan)
        self.plan = plan
        #: precision = float32: state, constants and arithmetic of step.c in float (else double)
        self.float32 = plan.precision == "float32"
        self.n = plan.symbols  # every name this target makes: n(owner, role)
        #: generated name -> the spec's name (for comments and set_input keys)
        self.spec_name = {q: v for owner in plan.populations + plan.connections for v, q in owner.local.items()}
        self.pops = {p.name: p for p in plan.populations}
        self.sources = {s.name: s for s in plan.sources}
        self.conns = {c.name: c for c in plan.connections}
        self.sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
        self.route = {}  # connection -> how the plan delivers it
        for op in plan.schedule.ops(Deliver):
            for name in op.group or (op.connection,):
                self.route[name] = op
        # What step.c receives, in order: arrays (a pointer table), reals and integers.
        self.slots: list[tuple[str, str, str, bool]] = []  # (C name, C type, host expression, written)
        self.reals: list[tuple[str, str]] = []  # (C name, host expression)
        self.ints: list[tuple[str, str]] = []

    def c(self, expr, indexed: dict[str, str] | None = None) -> str:
        return cuda_code(expr, indexed, "float" if self.float32 else "double")

    # ---- what step.c receives ------------------------------------------------------------------
    def array(self, name: str, ctype: str, host: str, written: bool = False) -> str:
        """The C pointer ``d_<name>`` to an array the host passes (declared once)."""
        cname = f"d_{name}"
        if not any(slot[0] == cname for slot in self.slots):
            self.slots.append((cname, ctype, host, written))
        return cname

    def state(self, key: str, ctype: str = "real", written: bool = False) -> str:
        """A state array of the Network (``self.state[key]``), coerced to the C type's dtype."""
        dtype = {"real": "REAL", "long long": "np.int64", "unsigned char": "np.bool_"}[ctype]
        return self.array(key, ctype, f"_array(s, {key!r}, {dtype})", written)

    def real(self, name: str, host: str) -> str:
        if not any(r[0] == name for r in self.reals):
            self.reals.append((name, host))
        return name

    def integer(self, name: str, host: str) -> str:
        if not any(r[0] == name for r in self.ints):
            self.ints.append((name, host))
        return name

    def context(self) -> dict:
        from ...plan.randomness import constants
        from .. import environment
        from ..numpy import NumpyEmitter

        numpy_emitter = NumpyEmitter(self.plan)
        numpy_context = numpy_emitter.context()
        numpy_context.update(header="", package="", rng=constants())
        host_runtime = environment().get_template("numpy/runtime.py.j2").render(**numpy_context).lstrip("\n")
        # the C first: it declares the arrays, reals and integers the host passes
        step_code, start_code, end_code = self.step_code(), self.start_code(), self.end_code()
        refused = split_problems(numpy_emitter)  # under mpirun: why it runs in one process, if it does
        single = {
            **numpy_emitter.describe(),
            "host_runtime": host_runtime,
            "reset_code": numpy_context["reset_code"],
            "step_code": step_code,
            "start_code": start_code,
            "end_code": end_code,
            "unpack_code": self.unpack_code(),
            "real": "float" if self.float32 else "double",
            "real_dtype": "np.float32" if self.float32 else "np.float64",
            "prologue_code": self.prologue(),
            "call_code": self.call_code(),
            "collect_code": self.collect_code(),
            "finish_code": self.finish_code(),
            "spike_monitors": [k for k, m in enumerate(self.plan.monitors) if m.kind == "spikes"],
            "fixed": [self.n(c.name, k) for c in self.plan.connections
                      for k in ("pre", "post", "group_delay", "group_ptr", "by_post", "post_ptr")]
            + [c.delay_array for c in self.plan.connections if c.delay_array],
            "exchange": self.plan.schedule.exchange,
            "partition_refused": "; ".join(refused) or None,
        }
        # then one process's part of the network split over processes (snnpart; split.py)
        return {**single, **self.split_context(numpy_context, refused)}


def _check_float32(plan: Plan) -> None:
    """precision = float32 prints neurons, sources and linear synapses; the statements of plasticity
    (plastic.py: tables and traces the host computes in float64) are refused with it."""
    from .refuse import refusal

    found = [("connection", c.name, f"connection {c.name} ({c.synapse}) has plasticity (event statements, traces "
              "or synapse equations), which the c target does not print in precision = float32 yet; use "
              "precision = float64")
             for c in plan.connections
             if c.linear is None or c.on_post or c.traces or c.trace_decay or c.syn_integrate or c.inputs]
    if found:
        raise refusal(plan, found)


def compile_package(folder, threads=None) -> dict:
    """Compile the C source of a package built for the c target (its native.py does it);
    returns what was recorded (compiler, flags, OpenMP, default threads). Raises
    ValueError with the fix when there is no C compiler or the compile fails."""
    import importlib.util
    from pathlib import Path

    path = Path(folder) / "native.py"
    spec = importlib.util.spec_from_file_location(f"_snnlang_native_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(threads=threads)
