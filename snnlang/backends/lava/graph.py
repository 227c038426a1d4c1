"""The process graph of network.py: initial state and connectivity (the NumPy target's own
code), populations, sources, static and plastic connections, the recorder."""
from __future__ import annotations

import textwrap

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan
from ..lines import Lines
from ..printer import numpy_code
from ...plan.fixed_point import weight_expr


class Graph:
    """The LavaEmitter's printing of the network graph."""

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
                    out(f"init[{r['v']!r}] = _register(np.rint((s[{fixed.voltage_name!r}] - q['v_reset']) "
                        "* q['scale']))")
                    if fixed.current is not None:
                        out(f"init[{r['u']!r}] = _register(np.rint(s[{fixed.current_name!r}] * q['current_scale']))")
                    for name in ("du", "dv", "vth"):
                        out(f"init[{r[name]!r}] = q[{name!r}]")
                    if fixed.bias_expr is not None:  # one bias per neuron, from per-neuron parameters
                        for sym in sorted(fixed.bias_expr.free_symbols, key=lambda x: x.name):
                            out(f"{sym.name} = s[{sym.name!r}]")
                        out(f"init[{r['bias_mant']!r}] = rt.loihi_bias_mant({numpy_code(fixed.bias_expr)}, "
                            f"q['bias_exp'], {pop.size})")
                    else:
                        out(f"init[{r['bias_mant']!r}] = np.full({pop.size}, q['bias_mant'])")
                    out(f"init[{r['bias_exp']!r}] = np.full({pop.size}, q['bias_exp'])")
            out(f"graph.populations[{pop.name!r}] = procs.{cls.name}(shape=({pop.size},), population={pop.name!r}, "
                f"seed=seed, dt=dt, refractory={refractory}, name={pop.name!r}, init=init)")
            out()
        return out.text(1)

    def sources_code(self) -> str:
        out, n = Lines(), self.plan.symbols
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
                out(f"steps_, index_ = s[{n(src.name, 'event_step')!r}], s[{n(src.name, 'event_index')!r}]")
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
        n = self.plan.symbols
        target_var = self.loihi.delivery[c.name]
        cls = self.class_of[c.target]
        port = cls.ports[target_var]
        rows_pre, rows_post = (c.pre_rows or c.n_pre), (c.post_rows or c.n_post)
        plastic = self.plastic.get(c.name)
        learns = "; learns (pair STDP)" if plastic is not None else ""
        out(f"# connection {c.name}: {c.source} -> {c.target} ({c.synapse}, {c.pattern}); adds to {target_var}{learns}")
        out(f"pre, post = s[{n(c.name, 'pre')!r}], s[{n(c.name, 'post')!r}]")
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
                             "current": n.current, "input_kind": n.input_kind, "strict": n.strict,
                             "per_neuron_bias": n.bias_expr is not None}
            cls = self.class_of[name]
            if cls.fixed is not None:  # the Vars holding the registers
                neurons[name].update(u_var=cls.registers["u"], v_var=cls.registers["v"])
        weights = {name: {"gain": c.gain, "weight_exp": c.weight_exp, "sign_mode": c.sign_mode}
                   for name, c in self.loihi.connections.items()}
        return neurons, weights
