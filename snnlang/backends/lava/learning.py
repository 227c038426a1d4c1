"""Plastic connections of the Lava target: one generated Lava process per pair-STDP connection.

Lava's own ``LearningDense`` (floating point) pairs a presynaptic spike in the step it is
emitted and sends the weights of a spike before that step's learning, one update late; the
spec pairs a spike when it arrives and sends the weight its ``on_pre`` leaves. So a plastic
connection whose rule has a Loihi form (:func:`.loihi._stdp` decides; what has
none is refused) runs as a generated process that prints the plan's own ``on_pre`` and
``on_post`` statements, in the plan's order of a step. Its ``run_spk`` for snnlang's step n
(Lava's time step n + 1):

2. the presynaptic spikes of step n - 1 arrive (a delay of one step): traces decay, the
   ``on_pre`` statements run, and what the spikes add to the target goes out on ``a_out``
   (the target neuron adds it in its own phase 2); then this step's presynaptic spikes are
   received and kept for the next step;
5. this step's postsynaptic spikes (``s_in_bap``): the ``on_post`` statements.

Synapses are the NumPy target's own per-synapse arrays (``pre``, ``post``, weights), so
absent synapses do not exist, and the arithmetic is the NumPy target's.
"""
from __future__ import annotations

import keyword

import sympy

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan, EventStatement
from ..lines import Lines
from ..printer import numpy_code
from .loihi import LoihiSTDP

#: Names of the generated run_spk and of Lava's process classes that spec names must not take.
INTERNAL = frozenset("""
step dt t np rt self params delivered spiked spk syn pre post pre_of post_of arrived s_in s_in_bap a_out
""".split())


class PlasticConnection:
    """The generated Process (and its floating-point model) of one plastic connection."""

    def __init__(self, c: ConnectionPlan, rule: LoihiSTDP, class_name: str, target_var: str, reserved: frozenset,
                 symbols):
        self.c, self.rule, self.name, self.target_var = c, rule, class_name, target_var
        spec_of = {q: s for s, q in c.local.items()}
        taken = set(INTERNAL) | set(reserved)
        self.local: dict[str, str] = {}  # qualified plan name -> name in the generated code
        names = ([p.name for p in c.params] + [a.target for a in c.trace_constants + c.syn_constants]
                 + list(c.state) + [t.name for t in c.traces])
        for q in dict.fromkeys(names):
            name = spec_of.get(q) or symbols.local(q, c.name)
            while name in taken or not name.isidentifier() or keyword.iskeyword(name):
                name += "_"
            taken.add(name)
            self.local[q] = name
        self.params = [(self.local[p.name], p.key) for p in c.params]
        self.vars = [self.local[n] for n in c.state] + [self.local[t.name] for t in c.traces]
        self.ints = {self.local[t.name] for t in c.traces if t.dtype == "int"}
        self.initial = {self.local[n]: n for n in c.state} | {self.local[t.name]: t.name for t in c.traces}
        self.weight = self.local[rule.weight]

    def code(self, expr: sympy.Basic, indexed: dict[str, str] | None = None) -> str:
        """An expression of the plan, in the generated code's names; ``indexed``: plan name -> index."""
        expr = expr.xreplace({s: symbol(self.local[s.name]) for s in expr.free_symbols if s.name in self.local})
        return numpy_code(expr, {self.local.get(n, n): ix for n, ix in (indexed or {}).items()})

    def _uses(self, s: sympy.Symbol) -> bool:
        c = self.c
        exprs = [a.expr for a in c.trace_constants + c.syn_constants + c.trace_decay] + [st.expr for st in c.on_pre + c.on_post]
        return any(e.has(s) for e in exprs)

    # ---- the Process ---------------------------------------------------------------------
    def process(self, out: Lines) -> None:
        c = self.c
        out(f"class {self.name}(AbstractProcess):")
        with out.indent():
            out(f'"""Connection {c.name} ({c.source} -> {c.target}): its synapses and their learning rule, with the')
            out("spec's order of a step (see the floating-point model).")
            out()
            out(f"Vars: {', '.join(self.vars)}; ``arrived``: the presynaptic spikes of the last step.")
            out("``s_in``: presynaptic spikes; ``s_in_bap``: postsynaptic spikes; ``a_out``: what the arriving")
            out(f"spikes add to {self.target_var} of {c.target}.")
            out(f"Loihi form: {self._loihi_form()}.")
            out('"""')
            out()
            out("def __init__(self, *, pre, post, init, params, dt, name=None):")
            with out.indent():
                out("super().__init__(pre=np.asarray(pre), post=np.asarray(post), params=params, dt=dt, name=name)")
                out(f"self.s_in = InPort(shape=({c.pre_rows or c.n_pre},))")
                out(f"self.s_in_bap = InPort(shape=({c.post_rows or c.n_post},))")
                out(f"self.a_out = OutPort(shape=({c.post_rows or c.n_post},))")
                for var in self.vars:
                    out(f"self.{var} = Var(shape=np.shape(init[{var!r}]), init=init[{var!r}])")
                out(f"self.arrived = Var(shape=({c.pre_rows or c.n_pre},), init=0)")
        out()
        out()

    def _loihi_form(self) -> str:
        r = self.rule
        if not r.dw:
            return "a Dense (no weight ever changes)"
        return (f"Loihi2FLearningRule(dw={r.dw!r}, x1_tau={r.tau_pre:.4g}, y1_tau={r.tau_post:.4g}) on a "
                "LearningDense")

    def model(self, out: Lines) -> None:
        c = self.c
        rows_post = c.post_rows or c.n_post
        out(f"@implements(proc={self.name}, protocol=LoihiProtocol)")
        out("@requires(CPU)")
        out('@tag("floating_pt")')
        out(f"class Py{self.name}Float(PyLoihiProcessModel):")
        with out.indent():
            out(f'"""Connection {c.name} in floating point: the plan\'s on_pre and on_post, as the NumPy target runs '
                'them."""')
            out()
            out("s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)")
            out("s_in_bap: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)")
            out("a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)")
            for var in self.vars:
                out(f"{var}: np.ndarray = LavaPyType(np.ndarray, {'int' if var in self.ints else 'float'})")
            out("arrived: np.ndarray = LavaPyType(np.ndarray, float)")
            out()
            out("def run_spk(self):")
            with out.indent():
                out("step = self.time_step - 1  # snnlang's step n is Lava's time step n + 1")
                out('dt, params = self.proc_params["dt"], self.proc_params["params"]')
                if self._uses(symbol("t")):
                    out("t = step * dt")
                out('pre_of, post_of = self.proc_params["pre"], self.proc_params["post"]')
                for local, key in self.params:
                    out(f"{local} = params[{key!r}]")
                for a in c.trace_constants + c.syn_constants:
                    out(f"{self.local[a.target]} = {self.code(a.expr)}")
                out(f"{', '.join(self.vars)} = {', '.join('self.' + v for v in self.vars)}")
                out("# 2. traces decay to this step; last step's presynaptic spikes arrive (on_pre), their effect")
                out(f"#    on {self.target_var} of {c.target} goes out")
                for a in c.trace_decay:
                    target = self.local[a.target]
                    value = self.code(a.expr)
                    out(f"{target}[:] = {value}" if a.where is None else
                        f"{target}[:] = np.where({self.local.get(a.where, a.where)}, {value}, {target})")
                out(f"delivered = np.zeros({rows_post})")
                out("spk = np.flatnonzero(self.arrived)")
                out("if spk.size:")
                with out.indent():
                    out("syn = np.flatnonzero(self.arrived[pre_of])  # the synapses of the spiking neurons")
                    out("pre, post = pre_of[syn], post_of[syn]")
                    self.events(out, c.on_pre, "pre")
                out("self.a_out.send(delivered)")
                out("self.arrived[:] = self.s_in.recv()  # this step's presynaptic spikes arrive in the next")
                out("# 5. this step's postsynaptic spikes (on_post)")
                out("spiked = self.s_in_bap.recv()")
                out("spk = np.flatnonzero(spiked)")
                out("if spk.size:")
                with out.indent():
                    out("syn = np.flatnonzero(spiked[post_of])")
                    out("pre, post = pre_of[syn], post_of[syn]")
                    self.events(out, c.on_post, "post")
        out()
        out()

    def events(self, out: Lines, statements: list[EventStatement], event: str) -> None:
        """The statements of a spike, over its spiking neurons ``spk`` and their synapses ``syn``."""
        c = self.c
        rows_post = c.post_rows or c.n_post
        for st in statements:
            if st.side == event:  # once per spiking neuron
                indexed = {n: "spk" for n, ix in c.indexed.items() if ix == event}
                out(f"{self.local[st.target]}[spk] = {self.code(st.expr, indexed)}")
            elif st.side == "synapse":
                out(f"{self.local[st.target]}[syn] = {self.code(st.expr, c.indexed)}")
            else:  # what each synapse adds to its postsynaptic neuron (loihi.py allows this in on_pre only)
                op = "-=" if st.op == "-=" else "+="
                value = self.code(st.expr, c.indexed)
                if st.expr.free_symbols & {symbol(n) for n in c.indexed}:
                    out(f"delivered {op} np.bincount(post, weights={value}, minlength={rows_post})")
                else:
                    out(f"delivered {op} {value} * np.bincount(post, minlength={rows_post})")

    # ---- network.py ----------------------------------------------------------------------
    def build(self, out: Lines) -> None:
        """The lines of build_network() that make the process (``pre``, ``post`` and ``delay`` are set)."""
        c = self.c
        out("if (delay != 1).any():  # loihi.py refuses other delays; a dt other than the build's may make them")
        with out.indent():
            out(f"raise ValueError('connection {c.name}: learning synapses have a delay of one step on Loihi, "
                "not ' + str(sorted(set(delay.tolist()))))")
        init = ", ".join(f"{v!r}: s[{q!r}]" for v, q in self.initial.items())
        params = ", ".join(f"{key!r}: p[{key!r}]" for _, key in self.params)
        out(f"conn = procs.{self.name}(pre=pre, post=post, init={{{init}}},")
        out(f"    params={{{params}}}, dt=dt, name={c.name!r})")
        out(f"graph.populations[{c.target!r}].s_out.connect(conn.s_in_bap)  # postsynaptic spikes, for learning")
        out(f"graph.synapses[{c.name!r}] = (pre, post)")
