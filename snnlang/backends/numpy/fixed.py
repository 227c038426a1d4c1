"""The NumPy target in Loihi's fixed point (``precision = loihi``): the plan's registers
(``plan.fixed_point``, snnlang/plan/fixed_point.py) and Lava's exact integer arithmetic.

Operation for operation what Lava's ``fixed_pt`` models compute (``lava.proc.lif``'s
``PyLifModelBitAcc`` and ``lava.proc.dense``'s ``PyDenseModelBitAcc``, docs/lava.md), in the
schedule's order: ``Deliver`` sums each connection's 8-bit weights of the spikes that arrive
and shifts the sum by its ``weight_exp`` (Lava's Dense, or DelayDense per delay) into the
target's ``a_in``; ``Integrate`` decays the current ``u`` (rounding toward zero), adds
``a_in << 6``, wraps it to 24 bits, then decays ``v``, adds ``u`` and the bias and saturates it
(held while refractory); ``Threshold`` spikes where ``v > vth << 6`` and sets ``v`` to 0. The
registers are int64 arrays in ``state`` (the voltage's and the current's names); monitors
record them in SI (``v = V / scale + v_reset``, ``c = U / current_scale``).
"""
from __future__ import annotations

import sympy

from ...frontend.functions import symbol
from ...plan.fixed_point import FixedNeuron
from ...plan.ir import ConnectionPlan, PopulationPlan
from ..lines import Lines
from .code import code


class Fixed:
    """The NumpyEmitter's printing in fixed point: used when ``plan.precision == "loihi"``."""

    @property
    def fixed(self) -> bool:
        return self.plan.precision == "loihi"

    def neuron(self, population: str) -> FixedNeuron:
        return self.plan.fixed_point.neurons[population]

    def register_u(self, pop: PopulationPlan) -> str:
        """The name of Loihi's current register u: the spec's current, or one of the target's own."""
        f = self.neuron(pop.name)
        return f.current_name or self.n(pop.name, "u")

    # ---- state: the registers at reset, loaded before the loop, stored after it ---------------
    def fixed_reset(self, out: Lines, pop: PopulationPlan) -> None:
        """Initial registers from the initial values, as the Lava target's fixed_pt network sets them."""
        f = self.neuron(pop.name)
        out(f"# {pop.name} in Loihi's fixed point: 24-bit registers {f.voltage} = rint(({f.voltage} - v_reset) * scale)"
            + (f", {f.current} = rint({f.current} * current_scale)" if f.current else ""))
        out(f"s[{f.voltage_name!r}] = rt.register24(np.rint(({f.voltage_name} - {f.v_reset!r}) * {f.scale!r}))")
        if f.current_name:
            out(f"s[{f.current_name!r}] = rt.register24(np.rint({f.current_name} * {f.current_scale!r}))")
        else:
            out(f"s[{self.register_u(pop)!r}] = np.zeros(N, dtype=np.int64)  # Loihi's current register u")

    def fixed_prologue(self, out: Lines, pop: PopulationPlan) -> None:
        f = self.neuron(pop.name)
        u = self.register_u(pop)
        if not f.current_name:
            out(f"{u} = s[{u!r}]")
        out(f"{self.n(pop.name, 'a_in')} = np.zeros({pop.size}, dtype=np.int64)  # this step's input: Dense outputs")
        bias = self.n(pop.name, "bias")
        if f.bias_expr is not None:
            out(f"{bias} = rt.loihi_bias_mant({code(f.bias_expr)}, {f.bias_exp}, {pop.size}) << {f.bias_exp}"
                "  # per neuron: bias_mant << bias_exp")
        else:
            out(f"{bias} = {f.bias_mant << f.bias_exp}  # bias_mant {f.bias_mant} << bias_exp {f.bias_exp}")

    def fixed_weights(self, out: Lines, c: ConnectionPlan) -> None:
        """A connection's integer weights, (pre x post) as Lava's Dense keeps them (per delay: DelayDense)."""
        from ...plan.fixed_point import weight_expr

        q = self.plan.fixed_point.connections[c.name]
        weight = weight_expr(c)
        pre, post = f"s[{self.n(c.name, 'pre')!r}]", f"s[{self.n(c.name, 'post')!r}]"
        out(f"# {c.name}: {q.sign_mode} 8-bit mantissas of weight * {q.gain!r} / 2**{q.weight_exp}")
        out(f"rt.loihi_clipped({c.name!r}, np.broadcast_to({code(weight)}, {pre}.shape), {q.gain!r}, "
            f"{q.weight_exp}, {q.sign_mode!r})  # warns with the count of weights the mantissas clip")
        out(f"{self.n(c.name, 'mantissas')} = rt.loihi_mantissas(np.broadcast_to({code(weight)}, {pre}.shape), "
            f"{q.gain!r}, {q.weight_exp}, {q.sign_mode!r})")
        rows = f"{c.pre_rows or c.n_pre}, {c.post_rows or c.n_post}, {q.sign_mode!r}"
        shift = f" << {q.weight_exp}" if q.weight_exp > 0 else ""  # a left shift of the sum: of each weight
        if c.delay_array is not None:
            out(f"{self.n(c.name, 'W')} = [(d, W{shift}) for d, W in rt.loihi_dense_by_delay({pre}, {post}, "
                f"{self.n(c.name, 'mantissas')}, {c.delay_array}, {rows})]")
        else:
            out(f"{self.n(c.name, 'W')} = rt.loihi_dense({pre}, {post}, {self.n(c.name, 'mantissas')}, {rows}){shift}")

    def fixed_stored(self, pop: PopulationPlan) -> list[str]:
        """Registers kept in ``state`` beyond the population's own state variables."""
        f = self.neuron(pop.name)
        return [] if f.current_name else [self.register_u(pop)]

    # ---- one step ------------------------------------------------------------------------------
    def fixed_Deliver(self, out: Lines, op) -> None:
        """Lava's Dense: the weights of the arriving spikes summed, shifted by weight_exp, into a_in."""
        for name in op.group or (op.connection,):
            c = self.conns[name]
            q = self.plan.fixed_point.connections[name]
            a_in, W = self.n(c.target, "a_in"), self.n(c.name, "W")
            floor = f" >> {-q.weight_exp}" if q.weight_exp < 0 else ""  # Lava floors the shifted sum
            if op.delay == 1:
                out(f"spk = {self.n(c.source, 'spk')}  # {c.name}: last step's spikes")
                out("if spk.size:")
                with out.indent():
                    out("synops += spk.size * " + str(c.n_post))
                    out(f"{a_in} += {W}[spk].sum(axis=0){floor}")
                continue
            history = self.n(c.source, "history")
            if op.delay is not None:
                out(f"spk = np.flatnonzero({history}[(step - {op.delay}) % {history}.shape[0]])  # {c.name}")
                out("if spk.size:")
                with out.indent():
                    out("synops += spk.size * " + str(c.n_post))
                    out(f"{a_in} += {W}[spk].sum(axis=0){floor}")
                continue
            out(f"for d, W in {W}:  # {c.name}: Lava's DelayDense, each delay's sum shifted apart")
            with out.indent():
                out(f"spk = np.flatnonzero({history}[(step - d) % {history}.shape[0]])")
                out("if spk.size:")
                with out.indent():
                    out("synops += spk.size * " + str(c.n_post))
                    out(f"{a_in} += W[spk].sum(axis=0){floor}")

    def fixed_Integrate(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        f = self.neuron(pop.name)
        u, v, a_in = self.register_u(pop), f.voltage_name, self.n(pop.name, "a_in")
        out(f"# {pop.name}: Loihi's CUBA neuron (lava.proc.lif PyLifModelBitAcc), du = {f.du}, dv = {f.dv}")
        out(f"{u} = rt.wrap24(rt.decay12({u}, {4095 - f.du}) + ({a_in} << 6))  # u decays (ds_offset 1), takes the input")
        new = f"np.clip(rt.decay12({v}, {4096 - f.dv}) + {u} + {self.n(pop.name, 'bias')}, -8388607, 8388607)"
        if pop.refractory is not None:
            out(f"{v} = np.where({self.n(pop.name, 'refractory')}, {v}, {new})  # v held while refractory")
        else:
            out(f"{v} = {new}  # v decays, adds u and the bias; saturates at 24 bits")
        out(f"{a_in}[:] = 0")

    def fixed_CheckFinite(self, out: Lines, op) -> None:
        """Integer registers cannot become NaN."""

    def fixed_Threshold(self, out: Lines, op) -> None:
        pop = self.pops[op.population]
        f = self.neuron(pop.name)
        name, v = pop.name, f.voltage_name
        spiked, spk = self.n(name, "spiked"), self.n(name, "spk")
        cond = f"{v} {'>' if f.strict else '>='} {f.vth << 6}"
        if pop.refractory is not None:
            out(f"{spiked} = np.greater({cond}, {self.n(name, 'refractory')})  # vth << 6, and not refractory")
        else:
            out(f"{spiked} = {cond}  # vth {f.vth} << 6")
        out(f"{spk} = {spiked}.nonzero()[0]")
        if pop.refractory is not None and pop.refractory_uniform:
            out(f"{self.n(name, 'released')}[{self.n(name, 'slot')}] = {spk}")
        out(f"if {spk}.size:")
        with out.indent():
            out(f"{v}[{spk}] = 0  # Loihi's reset")
            if pop.refractory is not None and pop.refractory_uniform:
                out(f"{self.n(name, 'refractory')}[{spk}] = True")
            elif pop.refractory is not None:
                out(f"{self.n(name, 'refractory_until')}[{spk}] = step + {self.n(name, 'ref_steps')}[{spk}]")

    def fixed_RecordState(self, out: Lines, op) -> None:
        """Monitors record in SI: the voltage V / scale + v_reset, the current U / current_scale."""
        m = self.plan.monitors[op.monitor]
        pop, f = self.pops[m.population], self.neuron(m.population)
        span = m.as_slice()
        sl = f"{span[0]}:{span[1]}:{span[2]}" if span else self.n("", f"monitor{op.monitor}_neurons")
        registers = {f.voltage_name: (f.scale, f.v_reset)}
        if f.current_name and f.current_scale:
            registers[f.current_name] = (f.current_scale, 0.0)
        si = {symbol(q): symbol(q) / scale + offset for q, (scale, offset) in registers.items()}
        arrays = set(pop.state) | {a.name for a in pop.inputs} | {prm.name for prm in pop.params if prm.value is None}
        values = []
        for e in m.values or [symbol(q) for q in m.qualified]:
            if e.is_Symbol and e.name in registers:
                scale, offset = registers[e.name]
                shift = f" - {-offset!r}" if offset < 0 else f" + {offset!r}" if offset else ""
                values.append(f"{e.name}[{sl}] / {scale!r}{shift}")
            elif e.is_Symbol and e.name in arrays:
                values.append(f"{e.name}[{sl}]")
            else:  # a parameter, or a definition (of the registers in SI)
                e = e.xreplace(si).xreplace({symbol("i"): sympy.Symbol(f"np.arange({pop.size})")})
                values.append(f"np.broadcast_to({code(e)}, ({pop.size},))[{sl}]")
        record = f"rec[{op.monitor}].append((step, np.stack([{', '.join(values)}])))"
        if op.every > 1:
            out(f"if step % {op.every} == 0:")
            with out.indent():
                out(record)
        else:
            out(record)
