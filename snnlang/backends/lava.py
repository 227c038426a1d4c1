"""The Lava target: prints a Plan as a Lava (lava-nc 0.10) process graph.

Every decision is made elsewhere: the step order, integration and
connectivity by the plan (``snnlang/plan``), what maps onto Lava's processes
and Loihi's fixed-point arithmetic by :mod:`snnlang.plan.loihi`. This module
lays them out as Python through :mod:`.printer` and fills ``templates/lava/``:

* ``procs/processes.py``: one Lava ``Process`` per neuron model of the spec,
  with a floating-point ``PyLoihiProcessModel`` (the plan's own update, as the
  NumPy target computes it) and, for models of the LIF shape, a bit-accurate
  fixed-point one (Loihi's CUBA neuron, as ``lava.proc.lif``'s); one per plastic
  connection (:mod:`.lava_learning`); input sources and a recorder.
* ``network.py``: ``build_network()`` (initial state and connectivity drawn by
  the NumPy target's own code, Lava ``Dense``/``Sparse``/``DelayDense``
  processes for the static connections) and ``run()``.
* ``runtime.py``: the NumPy target's runtime (random numbers, connectivity).
"""
from __future__ import annotations

import textwrap

import sympy

from ..functions import symbol
from ..plan.ir import Assign, ConnectionPlan, Plan, PopulationPlan
from ..plan.loihi import LoihiError, LoihiNeuron, LoihiPlan, loihi_plan, refusal, weight_expr
from .lava_learning import PlasticConnection
from .lines import Lines
from .numpy import NumpyEmitter
from .printer import numpy_code

TARGET = "lava"

#: Attribute names of Lava's AbstractProcess and PyLoihiProcessModel (and ours): a spec
#: variable with one of these names gets a trailing underscore as its Var name.
RESERVED = frozenset("""
Phase Response add_ports_for_polling advance_to_time_step compile create_runtime folded_view
folded_view_inst_id id implements_process implements_protocol in_ports is_compiled is_sub_proc_of join
load log lrn_guard model model_class model_id name on_var_update out_ports parent_proc pause phase
post_guard pre_guard proc_params process_to_service procs propagate_folded_views py_ports ref_ports
register_sub_procs required_resources run run_lrn run_post_mgmt run_pre_mgmt run_spk runtime save
service_to_process start stop tags time_step validate_var_aliases var_id_to_var_map var_ports vars wait
shape s_out ref_left np rt
""".split())
REGISTERS = ("du", "dv", "vth", "bias_mant", "bias_exp")
IO_CLASSES = {"PoissonSource", "SpikeTimesSource", "Recorder"}


def _unqualify(expr: sympy.Basic, prefix: str, renames: dict[str, str]) -> sympy.Basic:
    """A plan expression with the population prefix stripped from its names (``exc_v`` -> ``v``)."""
    mapping = {}
    for s in expr.free_symbols:
        name = s.name
        if name.startswith(prefix + "_"):
            local = name[len(prefix) + 1:]
            mapping[s] = symbol(renames.get(local, local))
    return expr.xreplace(mapping)


class NeuronClass:
    """The generated Process of one neuron model and what its models need."""

    def __init__(self, emitter: "LavaEmitter", neuron: str, pops: list[PopulationPlan]):
        self.neuron = neuron
        self.pops = pops
        first = pops[0]
        self.name = neuron if neuron.isidentifier() and neuron not in IO_CLASSES else f"{neuron}Neuron"
        strip = lambda n: n[len(first.name) + 1:]  # noqa: E731
        self.state = [strip(n) for n in first.state]
        self.params = [strip(p.name) for p in first.params]
        self.inputs = [strip(a.name) for a in first.inputs]
        taken = set(self.state) | set(self.params) | set(self.inputs)
        self.var = {n: (n + "_" if n in RESERVED or n.startswith("a_in") else n) for n in taken}
        self.refractory = first.refractory is not None
        # the ports: one per variable the synapses add to, named a_in when there is one
        targets = sorted({emitter.loihi.delivery[c.name] for c in emitter.plan.connections
                          if c.target in {p.name for p in pops} and c.name in emitter.loihi.delivery})
        if len(targets) <= 1:
            self.ports = {t: "a_in" for t in targets}
        else:
            self.ports = {t: f"a_in_{t}" for t in targets}
        if not self.ports:
            self.ports_unconnected = ["a_in"]
        else:
            self.ports_unconnected = []
        # the fixed-point model: all populations LIF-shaped, with one structure
        fixed = [emitter.loihi.neurons.get(p.name) for p in pops]
        self.fixed: LoihiNeuron | None = None
        self.fixed_problem = None
        if all(fixed):
            shaped = [f for f in fixed if f.input_kind != "none"] or fixed
            kinds = {(f.input_kind, f.voltage, f.current, f.strict) for f in shaped}
            if len(kinds) == 1:
                self.fixed = shaped[0]
            else:
                self.fixed_problem = "its populations need different fixed-point structures"
        self.registers: dict[str, str] = {}
        if self.fixed is not None:
            self.registers["v"] = self.var[self.fixed.voltage]
            if self.fixed.current is not None:
                self.registers["u"] = self.var[self.fixed.current]
            else:
                self.registers["u"] = _fresh("u", taken)
            for r in REGISTERS:
                self.registers[r] = _fresh(r, taken | set(self.registers.values()))
        self.renames = {n: v for n, v in self.var.items() if n != v}

    def code(self, expr: sympy.Basic, pop: PopulationPlan) -> str:
        return numpy_code(_unqualify(expr, pop.name, self.renames))

    def local(self, name: str, pop: PopulationPlan) -> str:
        n = name[len(pop.name) + 1:] if name.startswith(pop.name + "_") else name
        return self.renames.get(n, n)


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken or name in RESERVED:
        name += "_"
    return name


class LavaEmitter:
    def __init__(self, plan: Plan):
        self.plan = plan
        self.loihi: LoihiPlan = loihi_plan(plan)
        if self.loihi.errors:
            raise refusal(plan, self.loihi.errors)
        self.numpy = NumpyEmitter(plan)
        self.pops = {p.name: p for p in plan.populations}
        self.sources = {s.name: s for s in plan.sources}
        self.sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
        by_model: dict[str, list[PopulationPlan]] = {}
        for p in plan.populations:
            by_model.setdefault(p.neuron, []).append(p)
        self.classes = {m: NeuronClass(self, m, pops) for m, pops in by_model.items()}
        self.class_of = {p.name: self.classes[p.neuron] for p in plan.populations}
        for cls in self.classes.values():
            self._check_same_update(cls)
        taken = {cls.name for cls in self.classes.values()} | IO_CLASSES
        self.plastic: dict[str, PlasticConnection] = {}
        for c in plan.connections:
            if c.name in self.loihi.plasticity:
                name = _fresh(f"Plastic_{c.name}", taken)
                taken.add(name)
                self.plastic[c.name] = PlasticConnection(c, self.loihi.plasticity[c.name], name,
                                                         self.loihi.delivery[c.name], RESERVED)
        problems = dict(self.loihi.neuron_problems)
        for cls in self.classes.values():
            if cls.fixed_problem:
                for p in cls.pops:
                    problems.setdefault(p.name, cls.fixed_problem)
        self.fixed_problems = ([f"population {p}: {r}" for p, r in problems.items()]
                               + [f"connection {c}: {r}" for c, r in self.loihi.connection_problems.items()])
        self.report = self.loihi.report() + [f"no fixed-point model: population {p}: {r}" for p, r in problems.items()
                                             if p not in self.loihi.neuron_problems]

    def _check_same_update(self, cls: NeuronClass) -> None:
        """Populations of one neuron model share a Process class: their updates must agree."""
        first = cls.pops[0]

        def shape(pop):
            return ([(cls.local(a.target, pop), cls.code(a.expr, pop), a.where and cls.local(a.where, pop))
                     for a in pop.constants + pop.integrate + pop.reset]
                    + [cls.code(pop.threshold, pop) if pop.threshold is not None else "",
                       cls.code(pop.refractory, pop) if pop.refractory is not None else ""])

        for pop in cls.pops[1:]:
            if shape(pop) != shape(first):
                raise refusal(self.plan, [LoihiError("population", pop.name, f"it and population {first.name} of "
                                                     f"neuron {cls.neuron} got different update statements from the "
                                                     "plan; the Lava target needs one Process per model")])

    # ---- processes.py -----------------------------------------------------------------------
    def processes(self) -> str:
        out = Lines()
        for cls in self.classes.values():
            self.process_class(out, cls)
            self.float_model(out, cls)
            if cls.fixed is not None:
                self.fixed_model(out, cls)
        for plastic in self.plastic.values():
            plastic.process(out)
            plastic.model(out)
        return out.text(0)

    def process_class(self, out: Lines, cls: NeuronClass) -> None:
        pops = ", ".join(p.name for p in cls.pops)
        out(f"class {cls.name}(AbstractProcess):")
        with out.indent():
            out(f'"""Neuron model {cls.neuron} of the spec (populations: {pops}).')
            out()
            out("State Vars: " + (", ".join(cls.var[s] for s in cls.state) or "none")
                + "; parameter Vars (one value, or one per neuron): " + (", ".join(cls.var[p] for p in cls.params)
                                                                        or "none") + ".")
            if cls.refractory:
                out("``ref_left``: refractory steps left per neuron.")
            if cls.fixed is not None:
                r = cls.registers
                out(f"Fixed point (Loihi's CUBA neuron): {r['v']} holds the voltage register, {r['u']} the current;")
                out(f"{r['du']}, {r['dv']}, {r['vth']}, {r['bias_mant']}, {r['bias_exp']} as in lava.proc.lif.LIF.")
            for var, port in cls.ports.items():
                out(f"``{port}``: synaptic input, added to {var} (Lava's Dense sums the weights of last step's spikes).")
            out("``s_out``: spikes.")
            out('"""')
            out()
            out("def __init__(self, *, shape, population, seed=0, dt=0.001, refractory=0, name=None, init=None):")
            with out.indent():
                out("super().__init__(shape=shape, population=population, seed=seed, dt=dt, refractory=refractory, "
                    "name=name)")
                out("init = init or {}")
                for port in list(cls.ports.values()) + cls.ports_unconnected:
                    out(f"self.{port} = InPort(shape=shape)")
                out("self.s_out = OutPort(shape=shape)")
                for s in cls.state:
                    out(f"self.{cls.var[s]} = Var(shape=shape, init=init.get({cls.var[s]!r}, 0))")
                for p in cls.params:
                    out(f"self.{cls.var[p]} = _param_var(init, {cls.var[p]!r})")
                if cls.refractory:
                    out("self.ref_left = Var(shape=shape, init=0)")
                if cls.fixed is not None:
                    r = cls.registers
                    if cls.fixed.current is None:
                        out(f"self.{r['u']} = Var(shape=shape, init=init.get({r['u']!r}, 0))")
                    for name in ("du", "dv", "vth"):
                        out(f"self.{r[name]} = Var(shape=(1,), init=init.get({r[name]!r}, 0))")
                    for name in ("bias_mant", "bias_exp"):
                        out(f"self.{r[name]} = Var(shape=shape, init=init.get({r[name]!r}, 0))")
        out()
        out()

    def _declare(self, out: Lines, cls: NeuronClass, fixed: bool) -> None:
        r = cls.registers
        int_vars = set()
        if fixed:
            out("a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)"
                if cls.ports or cls.ports_unconnected else "")
            for port in list(cls.ports.values()) + cls.ports_unconnected:
                if port != "a_in":
                    out(f"{port}: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)")
            out("s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)")
            out(f"{r['u']}: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)")
            out(f"{r['v']}: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)")
            out(f"{r['du']}: int = LavaPyType(int, np.uint16, precision=12)")
            out(f"{r['dv']}: int = LavaPyType(int, np.uint16, precision=12)")
            out(f"{r['bias_mant']}: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=13)")
            out(f"{r['bias_exp']}: np.ndarray = LavaPyType(np.ndarray, np.int16, precision=3)")
            out(f"{r['vth']}: int = LavaPyType(int, np.int32, precision=17)")
            int_vars = {r["u"], r["v"]}
        else:
            for port in list(cls.ports.values()) + cls.ports_unconnected:
                out(f"{port}: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)")
            out("s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)")
        for s in cls.state:
            if cls.var[s] not in int_vars:
                out(f"{cls.var[s]}: np.ndarray = LavaPyType(np.ndarray, float)")
        for p in cls.params:
            out(f"{cls.var[p]}: np.ndarray = LavaPyType(np.ndarray, float)")
        if cls.refractory:
            out("ref_left: np.ndarray = LavaPyType(np.ndarray, np.int32)")
        if cls.fixed is not None and not fixed:
            if cls.fixed.current is None:
                out(f"{r['u']}: np.ndarray = LavaPyType(np.ndarray, np.int32)")
            for name in ("du", "dv", "vth"):
                out(f"{r[name]}: int = LavaPyType(int, np.int32)")
            for name in ("bias_mant", "bias_exp"):
                out(f"{r[name]}: np.ndarray = LavaPyType(np.ndarray, np.int32)")

    def float_model(self, out: Lines, cls: NeuronClass) -> None:
        out(f"@implements(proc={cls.name}, protocol=LoihiProtocol)")
        out("@requires(CPU)")
        out('@tag("floating_pt")')
        out(f"class Py{cls.name}Float(PyLoihiProcessModel):")
        with out.indent():
            out(f'"""{cls.neuron} in floating point: the plan\'s own update, the arithmetic of the NumPy target."""')
            out()
            self._declare(out, cls, fixed=False)
            out()
            out("def run_spk(self):")
            with out.indent():
                self.float_step(out, cls)
        out()
        out()

    def float_step(self, out: Lines, cls: NeuronClass) -> None:
        first = cls.pops[0]
        out("step = self.time_step - 1  # snnlang's step n is Lava's time step n + 1")
        out('dt, seed, population = self.proc_params["dt"], self.proc_params["seed"], self.proc_params["population"]')
        out("t = step * dt")
        out('N = self.proc_params["shape"][0]')
        out("index = i = np.arange(N)")
        for p in cls.params:
            out(f"{cls.var[p]} = _value(self.{cls.var[p]})")
        for s in cls.state:
            out(f"{cls.var[s]} = self.{cls.var[s]}")
        if cls.refractory:
            out("ref_left = self.ref_left")
        if cls.inputs:
            out("# 1. inputs take their value for this step")
            for k, pop in enumerate(cls.pops):
                out(f"{'if' if k == 0 else 'elif'} population == {pop.name!r}:")
                with out.indent():
                    for d in pop.input_draws:
                        out(f"{cls.local(d.name, pop)} = rt.{d.kind}(seed, {d.stream}, step, index)")
                    for a in pop.inputs:
                        text = cls.code(a.expr, pop)
                        if not (a.expr.free_symbols - {symbol("dt"), symbol("t")}):
                            out(f"{cls.local(a.name, pop)} = np.full(N, {text}, dtype=float)")
                        else:
                            out(f"{cls.local(a.name, pop)} = np.broadcast_to({text}, (N,)).astype(float)")
        if cls.ports:
            out("# 2. spikes of the last step arrive: Lava's Dense sums their weights (its one-step delay)")
            for var, port in cls.ports.items():
                name = cls.var.get(var, var)
                out(f"{name} = {name} + self.{port}.recv()")
        out(f"# 3. integrate ({first.method}: {first.method_reason})")
        for a in first.constants:
            out(f"{cls.local(a.target, first)} = {cls.code(a.expr, first)}")
        if cls.refractory:
            out(f"ref_steps = int({cls.code(first.refractory, first)})")
            out("active = ref_left == 0")
        for a in first.integrate:
            self._assign(out, cls, first, a)
        out("# 4. spikes, resets, refractoriness")
        if first.threshold is None:
            out("spiked = np.zeros(N, dtype=bool)")
        else:
            cond = cls.code(first.threshold, first)
            if cls.refractory:
                out(f"spiked = active & {cond}")
            else:
                out(f"spiked = np.broadcast_to({cond}, (N,))")
            if first.reset:
                out("if spiked.any():")
                with out.indent():
                    for a in first.reset:
                        out(f"{cls.local(a.target, first)} = np.where(spiked, {cls.code(a.expr, first)}, "
                            f"{cls.local(a.target, first)})")
        if cls.refractory:
            out("ref_left = np.maximum(ref_left - 1, 0)")
            out("ref_left[spiked] = ref_steps")
            out("self.ref_left[:] = ref_left")
        for s in cls.state:
            out(f"self.{cls.var[s]}[:] = {cls.var[s]}")
        out("self.s_out.send(spiked)")

    def _assign(self, out: Lines, cls: NeuronClass, pop: PopulationPlan, a: Assign) -> None:
        target = cls.local(a.target, pop)
        if a.where is None:
            out(f"{target} = {cls.code(a.expr, pop)}")
        else:
            where = cls.local(a.where, pop)
            out(f"{target} = np.where({where}, {cls.code(a.expr, pop)}, {target})")

    def fixed_model(self, out: Lines, cls: NeuronClass) -> None:
        f, r = cls.fixed, cls.registers
        out(f"@implements(proc={cls.name}, protocol=LoihiProtocol)")
        out("@requires(CPU)")
        out('@tag("fixed_pt")')
        out(f"class Py{cls.name}Fixed(PyLoihiProcessModel):")
        with out.indent():
            out(f'"""{cls.neuron} in Loihi\'s fixed point: the CUBA neuron of lava.proc.lif\'s PyLifModelBitAcc,')
            out("operation for operation (24-bit u and v, 12-bit decays, bias_mant << bias_exp, threshold vth << 6),")
            extras = []
            if not f.strict:
                extras.append("a spike when v >= vth << 6 (the spec's >=)")
            if cls.refractory:
                extras.append("v held while refractory")
            if f.input_kind in ("voltage", "input"):
                extras.append(f"weights added to {f.voltage} in the step they arrive (du = 4095)")
            out("with " + "; ".join(extras) + '."""' if extras else 'bit for bit."""')
            out()
            self._declare(out, cls, fixed=True)
            out()
            out("def run_spk(self):")
            with out.indent():
                ports = list(cls.ports.values()) or cls.ports_unconnected
                out(f"a_in_data = self.{ports[0]}.recv()")
                out(f"bias_mant = self.{r['bias_mant']}.copy().astype(np.int32)")
                out(f"bias_exp = self.{r['bias_exp']}")
                out("effective_bias = np.where(bias_exp >= 0, np.left_shift(bias_mant, bias_exp), "
                    "np.right_shift(bias_mant, -bias_exp))")
                out(f"effective_vth = np.left_shift(self.{r['vth']}, 6)")
                out("# current: decay (ds_offset 1), add the input << 6, wrap to 24 bits")
                out(f"decayed_curr = np.int64(self.{r['u']}) * (4096 - (self.{r['du']} + 1))")
                out("decayed_curr = np.sign(decayed_curr) * np.right_shift(np.abs(decayed_curr), 12)")
                out("decayed_curr = np.int32(decayed_curr)")
                out("decayed_curr += np.left_shift(a_in_data, 6)")
                out("wrapped_curr = np.where(decayed_curr > _UV_MAX, decayed_curr - 2 * _UV_MAX, decayed_curr)")
                out("wrapped_curr = np.where(wrapped_curr <= -_UV_MAX, decayed_curr + 2 * _UV_MAX, wrapped_curr)")
                out(f"self.{r['u']}[:] = wrapped_curr")
                out("# voltage: decay (dm_offset 0), add current and bias, saturate to 24 bits")
                out(f"decayed_volt = np.int64(self.{r['v']}) * (4096 - self.{r['dv']})")
                out("decayed_volt = np.sign(decayed_volt) * np.right_shift(np.abs(decayed_volt), 12)")
                out("decayed_volt = np.int32(decayed_volt)")
                out(f"updated_volt = decayed_volt + self.{r['u']} + effective_bias")
                out("updated_volt = np.clip(updated_volt, -np.int32(_UV_MAX) + 1, np.int32(_UV_MAX) - 1)")
                if cls.refractory:
                    out("active = self.ref_left == 0")
                    out(f"self.{r['v']}[:] = np.where(active, updated_volt, self.{r['v']})")
                else:
                    out(f"self.{r['v']}[:] = updated_volt")
                op = ">" if f.strict else ">="
                out(f"spiked = self.{r['v']} {op} effective_vth")
                if cls.refractory:
                    out("spiked &= active")
                out(f"self.{r['v']}[spiked] = 0")
                if cls.refractory:
                    out('self.ref_left[:] = np.maximum(self.ref_left - 1, 0)')
                    out('self.ref_left[spiked] = self.proc_params["refractory"]')
                out("self.s_out.send(spiked)")
        out()
        out()

    # ---- network.py --------------------------------------------------------------------------
    def reset_code(self) -> str:
        """The NumPy target's initial state and connectivity, as the body of initial_state()."""
        return textwrap.indent(textwrap.dedent(self.numpy.reset()), "    ")

    def populations_code(self) -> str:
        out = Lines()
        for pop in self.plan.populations:
            cls = self.class_of[pop.name]
            fixed = self.loihi.neurons.get(pop.name)
            out(f"# population {pop.name}: {pop.size} x {pop.neuron}")
            out("init = {")
            with out.indent():
                for a in pop.arrays:
                    local = cls.local(a.name, pop)
                    if any(cls.var.get(s) == local for s in cls.params):
                        continue
                    out(f"{local!r}: s[{a.name!r}],")
                for prm in pop.params:
                    local = cls.local(prm.name, pop)
                    if prm.value is None:
                        out(f"{local!r}: s[{prm.name!r}],")
                    else:
                        out(f"{local!r}: np.array([p[{prm.key!r}]]),")
            out("}")
            refractory = 0
            if fixed is not None and cls.fixed is not None:
                r = cls.registers
                refractory = fixed.refractory
                out('if tag == "fixed_pt":')
                with out.indent():
                    out(f"q = FIXED_POINT[{pop.name!r}]")
                    out(f"init[{r['v']!r}] = _register(np.rint((s[{pop.name + '_' + fixed.voltage!r}] - q['v_reset']) "
                        "* q['scale']))")
                    if fixed.current is not None:
                        out(f"init[{r['u']!r}] = _register(np.rint(s[{pop.name + '_' + fixed.current!r}] "
                            "* q['current_scale']))")
                    for name in ("du", "dv", "vth"):
                        out(f"init[{r[name]!r}] = q[{name!r}]")
                    for name in ("bias_mant", "bias_exp"):
                        out(f"init[{r[name]!r}] = np.full({pop.size}, q[{name!r}])")
            out(f"graph.populations[{pop.name!r}] = procs.{cls.name}(shape=({pop.size},), population={pop.name!r}, "
                f"seed=seed, dt=dt, refractory={refractory}, name={pop.name!r}, init=init)")
            out()
        return out.text(1)

    def sources_code(self) -> str:
        out = Lines()
        for src in self.plan.sources:
            out(f"# input {src.name}: {src.size} x {src.kind}")
            if src.kind == "poisson":
                out(f"p_ = np.broadcast_to({numpy_code(src.rate)} * dt, ({src.size},)).astype(float)"
                    if not ({x.name for x in src.rate.free_symbols} & {"i", "N"}) else
                    f"i, N = np.arange({src.size}), {src.size}\n    "
                    f"p_ = np.broadcast_to({numpy_code(src.rate)} * dt, ({src.size},)).astype(float)")
                out(f"graph.sources[{src.name!r}] = procs.PoissonSource(shape=({src.size},), p=p_, seed=seed, "
                    f"stream={src.stream}, name={src.name!r})")
            else:
                out(f"steps_, index_ = s['{src.name}_event_step'], s['{src.name}_event_index']")
                out(f"if {src.name!r} in events:")
                with out.indent():
                    out(f"steps_, index_ = _events(events[{src.name!r}], dt, {src.width}, {src.height})")
                out(f"graph.sources[{src.name!r}] = procs.SpikeTimesSource(shape=({src.size},), steps=steps_, "
                    f"index=index_, name={src.name!r})")
            out()
        return out.text(1)

    def connections_code(self) -> str:
        out = Lines()
        for c in self.plan.connections:
            self.connection(out, c)
        return out.text(1)

    def connection(self, out: Lines, c: ConnectionPlan) -> None:
        target_var = self.loihi.delivery[c.name]
        cls = self.class_of[c.target]
        port = cls.ports[target_var]
        rows_pre, rows_post = (c.pre_rows or c.n_pre), (c.post_rows or c.n_post)
        plastic = self.plastic.get(c.name)
        learns = "; learns (pair STDP)" if plastic is not None else ""
        out(f"# connection {c.name}: {c.source} -> {c.target} ({c.synapse}, {c.pattern}); adds to {target_var}{learns}")
        out(f"pre, post = s['{c.name}_pre'], s['{c.name}_post']")
        if c.delay_array is not None:
            out(f"delay = s[{c.delay_array!r}]")
        else:
            out(f"delay = np.full(pre.shape, int({numpy_code(c.delay)}), dtype=np.int64)")
        if plastic is not None:
            plastic.build(out)
        else:
            weight = weight_expr(c)
            for prm in c.params:
                if weight.has(symbol(prm.name)):
                    out(f"{prm.name} = p[{prm.key!r}]")
            for a in c.arrays:
                if weight.has(symbol(a.name)):
                    out(f"{a.name} = s[{a.name!r}]")
            out(f"weight = np.broadcast_to({numpy_code(weight)}, pre.shape).astype(float)")
            out(f"conn = _connection({c.name!r}, tag, pre, post, weight, delay, {rows_post}, {rows_pre})")
        source = "sources" if c.source in self.sources else "populations"
        out(f"graph.{source}[{c.source!r}].s_out.connect(conn.s_in)")
        out(f"conn.a_out.connect(graph.populations[{c.target!r}].{port})")
        out(f"graph.connections[{c.name!r}] = conn")
        out()

    def recorder(self) -> tuple[list[str], list[tuple]]:
        """InPorts of the recorder (every population, monitored sources) and its state probes."""
        names = [p.name for p in self.plan.populations]
        for m in self.plan.monitors:
            if m.kind == "spikes" and m.population not in names:
                names.append(m.population)
        states = []
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "state":
                cls = self.class_of[m.population]
                for v in m.variables:
                    states.append((k, m.population, v, cls.var.get(v, v), m.start, m.stop, m.step, m.every))
        return names, states

    def fixed_tables(self) -> tuple[dict, dict]:
        neurons = {}
        for name, n in self.loihi.neurons.items():
            neurons[name] = {"du": n.du, "dv": n.dv, "vth": n.vth, "bias_mant": n.bias_mant, "bias_exp": n.bias_exp,
                             "scale": n.scale, "v_reset": n.v_reset, "current_scale": n.current_scale,
                             "gain": n.gain, "refractory": n.refractory, "voltage": n.voltage,
                             "current": n.current, "input_kind": n.input_kind, "strict": n.strict}
        weights = {name: {"gain": c.gain, "weight_exp": c.weight_exp, "sign_mode": c.sign_mode}
                   for name, c in self.loihi.connections.items()}
        return neurons, weights

    def context(self) -> dict:
        numpy_context = self.numpy.context()
        neurons, weights = self.fixed_tables()
        names, states = self.recorder()
        stdp = {}
        for name, s in self.loihi.plasticity.items():
            c = self.plastic[name].c
            stdp[name] = {"weight": self.plastic[name].weight, "shape": (c.post_rows or c.n_post, c.pre_rows or c.n_pre),
                          "loihi": {"dw": s.dw, "x1_tau": s.tau_pre, "x1_impulse": s.impulse_pre, "y1_tau": s.tau_post,
                                    "y1_impulse": s.impulse_post}}
        return {
            **{k: numpy_context[k] for k in ("plan", "params", "units", "sizes", "populations", "sources",
                                              "monitors")},
            "numpy_runtime": lambda header: _numpy_runtime(numpy_context, header),
            "processes_code": self.processes(),
            "reset_code": self.reset_code(),
            "populations_code": self.populations_code(),
            "sources_code": self.sources_code(),
            "connections_code": self.connections_code(),
            "recorder_ports": names,
            "recorder_states": states,
            "fixed_point": {k: repr(v) for k, v in neurons.items()},  # Python literals for the template
            "fixed_weights": {k: repr(v) for k, v in weights.items()},
            "fixed_problems": self.fixed_problems,
            "stdp": repr(stdp),
            "delivery": self.loihi.delivery,
            "connections_table": {c.name: [c.source, c.target] for c in self.plan.connections},
            "report": self.report,
            "classes": {cls.name: [p.name for p in cls.pops] for cls in self.classes.values()},
            "voltage_var": {p: self.class_of[p].var.get(n.voltage, n.voltage) for p, n in self.loihi.neurons.items()},
        }


def _numpy_runtime(numpy_context: dict, header: str) -> str:
    """The NumPy target's runtime module (random numbers, connectivity): one source for both targets."""
    from ..plan.randomness import constants
    from . import environment

    context = {**numpy_context, "header": header, "package": "", "rng": constants()}
    return environment().get_template("numpy/runtime.py.j2").render(**context)


def report_lines(plan: Plan) -> list[str]:
    """What the build prints for the Lava target: quantisation errors and what has no fixed-point form."""
    return LavaEmitter(plan).report
