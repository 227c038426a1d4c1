"""Prints a TrainingPlan as batched NumPy forward and backward passes (``training.py``).

Arrays carry a batch dimension (B, N); the only Python loop is over time.
The forward pass prints the plan's own step statements; the backward pass
prints the derivatives :mod:`snnlang.plan.gradients` took of them.
"""
from __future__ import annotations

import sympy

from ..functions import symbol
from ..plan.gradients import C, Z, u_name
from ..plan.train import TrainingPlan
from .numpy import Lines, _assign, code


class TrainingEmitter:
    def __init__(self, tp: TrainingPlan):
        self.tp = tp
        self.pops = {p.name: p for p in tp.plan.populations}
        self.into = {layer.population: [c for c in tp.connections if c.target == layer.population] for layer in tp.layers}
        self.out_of = {name: [c for c in tp.connections if c.source == name]
                       for name in [tp.source] + [layer.population for layer in tp.layers]}

    def parameters(self, out: Lines) -> None:
        for pop in self.tp.plan.populations:
            for prm in pop.params:
                out(f"{prm.name} = p[{prm.key!r}] if p[{prm.key!r}] is not None else init[{prm.name!r}]")
            for a in pop.constants:
                _assign(out, a)

    def forward(self) -> str:
        out = Lines()
        self.parameters(out)
        for layer in self.tp.layers:
            pop = self.pops[layer.population]
            out(f"# {pop.name}: {pop.size} x {pop.neuron} ({pop.method_reason})")
            for v in layer.state:
                out(f"{v} = np.broadcast_to(init[{v!r}], (B, {pop.size})).copy()")
                out(f"S[{v!r}] = np.empty((T, B, {pop.size})); U[{v!r}] = np.empty((T, B, {pop.size}))")
            for v in layer.inputs:
                out(f"I[{v!r}] = np.empty((T, B, {pop.size}))")
            out(f"Z[{pop.name!r}] = np.empty((T, B, {pop.size}))")
            if pop.refractory is not None:
                out(f"{pop.name}_ref = np.zeros((B, {pop.size}), dtype=np.int64)")
                out(f"{pop.name}_ref_steps = int({code(pop.refractory)})")
                out(f"ACTIVE[{pop.name!r}] = np.empty((T, B, {pop.size}), dtype=bool)")
            out(f"{pop.name}_z = np.zeros((B, {pop.size}))")
        out("for t in range(T):")
        with out.indent():
            out("# the spikes of step t - 1 arrive (the simulator's one-step delivery)")
            out(f"{self.tp.source}_z = x[t - 1] if t else np.zeros((B, {self.tp.n_in}))")
            delivered = {}
            for layer in self.tp.layers:
                pop = self.pops[layer.population]
                for a in pop.inputs:
                    bias = f" + bias[{a.name!r}]" if self.tp.bias else ""
                    out(f"{a.name} = np.broadcast_to({code(a.expr)}, (B, {pop.size})){bias}")
                for c in self.into[layer.population]:
                    drop = f" * mask[{c.source!r}]" if c.source != self.tp.source else ""
                    out(f"{c.variable} = {c.variable} + ({c.source}_z{drop}) @ weights[{c.weight!r}]")
                    delivered[c.variable] = True
            for layer in self.tp.layers:
                pop = self.pops[layer.population]
                name = pop.name
                for v in layer.state:
                    out(f"S[{v!r}][t] = {v}")
                for v in layer.inputs:
                    out(f"I[{v!r}][t] = {v}")
                if pop.refractory is not None:
                    out(f"{name}_active = {name}_ref == 0")
                    out(f"ACTIVE[{name!r}][t] = {name}_active")
                for a in pop.integrate:
                    _assign(out, a)
                for v in layer.state:
                    out(f"U[{v!r}][t] = {v}")
                margin = code(layer.condition.xreplace({symbol(u_name(v)): symbol(v) for v in layer.state}))
                spike = f"({margin} >= 0).astype(float)"
                if self.tp.smooth is not None:
                    smooth = code(self.tp.smooth.xreplace({C: sympy.Symbol("c_")}))
                    out(f"c_ = {margin}")
                    out(f"{name}_z = {smooth} if smooth else {spike}")
                else:
                    out(f"{name}_z = {spike}")
                if pop.refractory is not None:
                    out(f"{name}_z = {name}_z * {name}_active")
                out(f"Z[{name!r}][t] = {name}_z")
                self.reset(out, layer, f"{name}_z")
                if pop.refractory is not None:
                    out(f"{name}_ref = np.where({name}_z > 0, {name}_ref_steps, np.maximum({name}_ref - 1, 0))")
        return out.text(1)

    def reset(self, out: Lines, layer, z: str) -> None:
        """s' = z * reset(u) + (1 - z) * u, from the values just integrated."""
        u_of = {symbol(u_name(v)): symbol(f"{v}_u_") for v in layer.state}
        for v in layer.state:
            if layer.reset[v] != symbol(u_name(v)):
                out(f"{v}_u_ = {v}")
        for v in layer.state:
            r = layer.reset[v]
            if r != symbol(u_name(v)):
                out(f"{v} = {code(r.xreplace(u_of).xreplace({Z: symbol(z)}))}")

    def backward(self) -> str:
        out = Lines()
        self.parameters(out)
        tp = self.tp
        for layer in tp.layers:
            pop = self.pops[layer.population]
            for v in layer.state:
                out(f"g_{v} = np.zeros((B, {pop.size}))  # dL/d{v} after step t")
        for c in tp.connections:
            out(f"g_{c.name} = np.zeros((B, {c.n_post}))  # dL/d{c.variable} at step t + 1")
            out(f"grads[{c.weight!r}] = np.zeros(({c.n_pre}, {c.n_post}))")
        if tp.bias:
            for layer in tp.layers:
                for v in layer.inputs:
                    out(f"grads[{v!r}] = np.zeros({self.pops[layer.population].size})")
        out("for t in range(T - 1, -1, -1):")
        with out.indent():
            for layer in tp.layers:
                self.backward_layer(out, layer)
            for c in tp.connections:
                out(f"g_{c.name} = g_at_{c.name}")
        return out.text(1)

    def backward_layer(self, out: Lines, layer) -> None:
        tp = self.tp
        pop = self.pops[layer.population]
        name = pop.name
        out(f"# {name}: values of step t")
        for v in layer.state:
            out(f"{v} = S[{v!r}][t]; {u_name(v)} = U[{v!r}][t]")
        for v in layer.inputs:
            out(f"{v} = I[{v!r}][t]")
        out(f"z = Z[{name!r}][t]")
        gated = set(pop.gated)
        active = f"ACTIVE[{name!r}][t]" if pop.refractory is not None else None
        # dL/dz: the loss, and every connection this layer's spikes of step t feed at t + 1
        terms = [f"grad_z[{name!r}][t]"]
        for c in self.out_of.get(name, []):
            drop = f" * mask[{name!r}]" if name != tp.source else ""
            terms.append(f"(g_{c.name} @ weights[{c.weight!r}].T){drop}")
        out("g_z = " + " + ".join(terms))
        if not tp.detach_reset:
            for v, d in layer.dr_dz.items():
                out(f"g_z = g_z + ({code(d)}) * g_{v}")
        # through the reset s' = R(u, z)
        for k in layer.state:
            parts = [f"({code(d)}) * g_{j}" for (j, kk), d in layer.dr_du.items() if kk == k]
            parts.append(f"grad_u[{k!r}][t]")
            out(f"gu_{k} = " + " + ".join(parts))
        # through the spike z = H(c(u)), the step replaced by the surrogate
        margin = layer.condition
        out(f"g_c = g_z * ({code(tp.dspike.xreplace({C: margin}))})" + (f" * {active}" if active else ""))
        for k, d in layer.dc_du.items():
            out(f"gu_{k} = gu_{k} + ({code(d)}) * g_c")
        # through the integration u = G(s, I); a held variable passes its gradient on unchanged
        for k in layer.state:
            if k in gated and active:
                out(f"held_{k} = np.where({active}, 0.0, gu_{k})")
                out(f"gu_{k} = np.where({active}, gu_{k}, 0.0)")
        for j in layer.state:
            parts = [f"({code(d)}) * gu_{k}" for (k, jj), d in layer.du_ds.items() if jj == j]
            if j in gated and active:
                parts.append(f"held_{j}")
            out(f"gs_{j} = " + (" + ".join(parts) if parts else f"np.zeros_like(gu_{j})"))
        for m in layer.inputs:
            parts = [f"({code(d)}) * gu_{k}" for (k, mm), d in layer.du_dI.items() if mm == m]
            out(f"gi_{m} = " + (" + ".join(parts) if parts else "np.zeros_like(z)"))
            if tp.bias:
                out(f"grads[{m!r}] += gi_{m}.sum(axis=0)")
        for c in self.into[name]:
            g = f"gi_{c.variable}" if c.is_input else f"gs_{c.variable}"
            out(f"g_at_{c.name} = {g}")
            out("if t:")
            with out.indent():
                src = "x[t - 1]" if c.source == tp.source else f"Z[{c.source!r}][t - 1]"
                drop = f" * mask[{c.source!r}]" if c.source != tp.source else ""
                out(f"grads[{c.weight!r}] += ({src}{drop}).T @ {g}")
        for j in layer.state:
            out(f"g_{j} = gs_{j}")

    def context(self) -> dict:
        tp = self.tp
        return {
            "tp": tp,
            "layers": [layer.population for layer in tp.layers],
            "state": {layer.population: layer.state for layer in tp.layers},
            "inputs": {layer.population: layer.inputs for layer in tp.layers},
            "connections": tp.connections,
            "forward_code": self.forward(),
            "backward_code": self.backward(),
        }
