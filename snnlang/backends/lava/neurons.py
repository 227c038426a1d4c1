"""The Lava Process of each neuron model: its Vars and ports, its floating-point model (the
plan's own update) and, for models of the LIF shape, Loihi's bit-accurate fixed-point model."""
from __future__ import annotations

import sympy

from ...frontend.functions import symbol
from ...plan.ir import Assign, PopulationPlan
from ...plan.schedule import Deliver
from ..lines import Lines
from ..printer import numpy_code
from .loihi import LoihiError, LoihiNeuron, refusal

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
ref_steps step dt seed population t N index i
""".split())
REGISTERS = ("du", "dv", "vth", "bias_mant", "bias_exp")
IO_CLASSES = {"PoissonSource", "SpikeTimesSource", "Recorder"}


class NeuronClass:
    """The generated Process of one neuron model and what its models need."""

    def __init__(self, emitter, neuron: str, pops: list[PopulationPlan]):
        self.neuron = neuron
        self.pops = pops
        first = pops[0]
        self.name = neuron if neuron.isidentifier() and neuron not in IO_CLASSES else f"{neuron}Neuron"
        self.names = emitter.plan.symbols
        strip = lambda n: self.names.local(n, first.name)  # noqa: E731
        self.state = [strip(n) for n in first.state]
        self.params = [strip(p.name) for p in first.params]
        self.inputs = [strip(a.name) for a in first.inputs]
        taken = set(self.state) | set(self.params) | set(self.inputs)
        # the plan's own names of the model (temporaries, constants, the spike and active masks) keep
        # their roles as names in the process: a spec variable of the same name gives way
        own = {role for (kind, owner, role) in self.names.names if kind == "internal" and owner in {p.name for p in pops}}
        self.var = {}
        for n in sorted(taken):
            name = n
            while name in RESERVED or name in own or name.startswith("a_in") or name in self.var.values():
                name += "_"
            self.var[n] = name
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
        mapping = {x: symbol(self.local(x.name, pop)) for x in expr.free_symbols}
        return numpy_code(expr.xreplace({x: y for x, y in mapping.items() if x != y}))

    def local(self, name: str, pop: PopulationPlan) -> str:
        n = self.names.local(name, pop.name)
        return n if self.names.internal_name(name) else self.renames.get(n, n)


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken or name in RESERVED:
        name += "_"
    return name


class Neurons:
    """The LavaEmitter's printing of neuron processes."""

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
        # the plan's schedule, phase by phase: the operations on this model's populations
        # (phases that are other processes' — sources, plastic connections, the recorder — are theirs)
        names = {pop.name for pop in cls.pops}
        for phase in self.plan.schedule.phases:
            kinds = dict.fromkeys(type(op).__name__ for op in phase.ops
                                  if getattr(op, "population", None) in names
                                  or (isinstance(op, Deliver) and self.conns[op.connection].target in names))
            if kinds:
                out(f"# {phase.name}: {phase.doc}")
            for kind in kinds:
                getattr(self, "lava_" + kind)(out, cls)
        for s in cls.state:
            out(f"self.{cls.var[s]}[:] = {cls.var[s]}")
        out("self.s_out.send(spiked)")

    def lava_EvalInputs(self, out: Lines, cls: NeuronClass) -> None:
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

    def lava_Deliver(self, out: Lines, cls: NeuronClass) -> None:
        """Lava's Dense (and DelayDense) sums the weights of the spikes whose delay ends now."""
        for var, port in cls.ports.items():
            name = cls.var.get(var, var)
            out(f"{name} = {name} + self.{port}.recv()")

    def lava_Refractory(self, out: Lines, cls: NeuronClass) -> None:
        first = cls.pops[0]
        out(f"ref_steps = int({cls.code(first.refractory, first)})")
        out("active = ref_left == 0")

    def lava_Integrate(self, out: Lines, cls: NeuronClass) -> None:
        first = cls.pops[0]
        out(f"# {first.method}: {first.method_reason}")
        for a in first.constants:
            out(f"{cls.local(a.target, first)} = {cls.code(a.expr, first)}")
        for a in first.integrate:
            self._assign(out, cls, first, a)

    def lava_Threshold(self, out: Lines, cls: NeuronClass) -> None:
        first = cls.pops[0]
        if first.threshold is None:
            out("spiked = np.zeros(N, dtype=bool)")
        else:
            cond = cls.code(first.threshold, first)
            out(f"spiked = active & {cond}" if cls.refractory else f"spiked = np.broadcast_to({cond}, (N,))")
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

    def lava_CheckFinite(self, out: Lines, cls: NeuronClass) -> None:
        """Lava runs without the NumPy target's NaN check."""

    lava_RecordSpikes = lava_RecordState = lava_CheckFinite  # the Recorder process's

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
