"""Prints a TrainingPlan as batched NumPy forward and backward passes (``training.py``).

Arrays carry a batch dimension (B, N) and a time dimension in front (T, B, N).
The plan groups the populations (its ``groups``); each group has one Python
loop over time, connections between groups are one matrix product over all
steps (shifted by the one-step delivery). The forward pass prints the plan's
own step statements; the backward pass prints the derivatives
:mod:`snnlang.plan.gradients` took of them. Nothing here decides mathematics.
"""
from __future__ import annotations

import sympy

from ...frontend.functions import symbol
from ...plan.gradients import C, Z, reset_update, u_name
from ...plan.train import TrainingPlan
from ..lines import Lines
from ..printer import NumpyPrinter
from .code import _assign

TIME = symbol("t")


def code(expr: sympy.Basic) -> str:
    return NumpyPrinter().doprint(expr)


def _term(d: sympy.Basic, g: str) -> str:
    """d * g, without multiplying by one."""
    if d == 1:
        return g
    if d == -1:
        return f"-{g}"
    return f"({code(d)}) * {g}"


def _sum(terms: list[str]) -> str:
    text = " + ".join(terms)
    return text.replace("+ -", "- ")


class TrainingEmitter:
    def __init__(self, tp: TrainingPlan):
        self.tp = tp
        self.n = tp.plan.symbols  # every name this target makes: n(owner, role)
        self.pops = {p.name: p for p in tp.plan.populations}
        self.layer = {layer.population: layer for layer in tp.layers}
        self.into = {layer.population: [c for c in tp.connections if c.target == layer.population] for layer in tp.layers}
        self.out_of = {name: [c for c in tp.connections if c.source == name]
                       for name in [tp.source] + [layer.population for layer in tp.layers]}
        self.needs = {layer.population: self._needs(layer) for layer in tp.layers}

    # ---- what the backward pass reads --------------------------------------------------
    def _expressions(self, layer):
        tables = [layer.du_ds, layer.du_dI, layer.du_ds_held, layer.du_dI_held, layer.dc_du, layer.dr_du, layer.dr_dz]
        exprs = [e for table in tables for e in table.values()]
        exprs.append(self.tp.dspike.xreplace({C: layer.condition}))
        return exprs

    def _needs(self, layer) -> set[str]:
        names = set()
        for e in self._expressions(layer):
            names |= {s.name for s in e.free_symbols}
        return names

    def targeted(self, name: str) -> set[str]:
        """Variables of a population that some connection adds to."""
        return {c.variable for c in self.into[name]}

    def src(self, c, *, step: str | None = None) -> str:
        """The delivered spikes of a connection's source (all steps, or one)."""
        if c.source == self.tp.source:
            return "x" if step is None else f"x[{step}]"
        base = f"Z[{c.source!r}]" if step is None else f"Z[{c.source!r}][{step}]"
        return f"({base} * mask[{c.source!r}])"

    @staticmethod
    def scaled(c, text: str) -> str:
        return text if c.scale == 1.0 else f"{c.scale!r} * ({text})"

    def parameters(self, out: Lines) -> None:
        for pop in self.tp.plan.populations:
            for prm in pop.params:
                out(f"{prm.name} = p[{prm.key!r}] if p[{prm.key!r}] is not None else init[{prm.name!r}]")
            for a in pop.constants:
                _assign(out, a)

    # ---- forward -------------------------------------------------------------------------
    def forward(self) -> str:
        out = Lines()
        self.parameters(out)
        for group in self.tp.groups:
            self.forward_group(out, group)
        return out.text(1)

    def input_value(self, a) -> tuple[str, bool]:
        """The printed default of an input variable, and whether it changes from step to step."""
        return code(a.expr), TIME in a.expr.free_symbols or bool({s.name for s in a.expr.free_symbols} & set(
            v for p in self.tp.plan.populations for v in p.state))

    def forward_group(self, out: Lines, group: list[str]) -> None:
        tp = self.tp
        out(f"# ---- group {group}: {'recurrent, ' if any(c.recurrent for p in group for c in self.into[p]) else ''}"
            "one loop over time")
        for name in group:
            pop, layer = self.pops[name], self.layer[name]
            needs = self.needs[name]
            out(f"# {name}: {pop.size} x {pop.neuron} ({pop.method_reason})")
            for v in layer.state:
                out(f"{v} = np.broadcast_to(init[{v!r}], (B, {pop.size})).copy()")
                if v in needs or v in self.targeted(name):
                    out(f"S[{v!r}] = np.empty((T, B, {pop.size}), dtype=REAL)")
                if u_name(v) in needs or (name == tp.output and v == layer.state[0]):
                    out(f"U[{v!r}] = np.empty((T, B, {pop.size}), dtype=REAL)")
            for v in layer.inputs:
                if v in needs:
                    out(f"I[{v!r}] = np.empty((T, B, {pop.size}), dtype=REAL)")
            out(f"Z[{name!r}] = np.empty((T, B, {pop.size}), dtype=REAL)")
            if pop.refractory is not None:
                out(f"{self.n(name, 'ref')} = np.zeros((B, {pop.size}), dtype=np.int64)")
                out(f"{self.n(name, 'ref_steps')} = int({code(pop.refractory)})")
                out(f"ACTIVE[{name!r}] = np.empty((T, B, {pop.size}), dtype=bool)")
            # what arrives from outside the group, all steps at once (spikes of step n - 1 at step n)
            external = [c for c in self.into[name] if not c.recurrent]
            targets = [a.name for a in pop.inputs] + sorted({c.variable for c in external if not c.is_input})
            for var in targets:
                into = [c for c in external if c.variable == var]
                out(f"D_{var} = np.empty((T, B, {pop.size}), dtype=REAL)")
                out(f"D_{var}[0] = 0.0")
                for k, c in enumerate(into):
                    product = f"{self.src(c)}[:-1].reshape(-1, {c.n_pre}) @ weights[{c.weight!r}]"
                    if k == 0 and c.scale == 1.0:
                        out(f"np.matmul({self.src(c)}[:-1].reshape(-1, {c.n_pre}), weights[{c.weight!r}], "
                            f"out=D_{var}[1:].reshape(-1, {c.n_post}))  # {c.name}")
                    elif k == 0:
                        out(f"D_{var}[1:] = ({self.scaled(c, product)}).reshape(T - 1, B, {c.n_post})  # {c.name}")
                    else:
                        out(f"D_{var}[1:] += ({self.scaled(c, product)}).reshape(T - 1, B, {c.n_post})  # {c.name}")
                if not into:
                    out(f"D_{var}[1:] = 0.0")
                a = next((a for a in pop.inputs if a.name == var), None)
                if a is not None:
                    value, varying = self.input_value(a)
                    if not varying and a.expr != 0:
                        out(f"D_{var} += {value}")
                    if tp.bias:
                        out(f"D_{var} += bias[{var!r}]")
        out("for n in range(T):")
        with out.indent():
            if any(TIME in a.expr.free_symbols for name in group for a in self.pops[name].inputs) or \
                    any(TIME in a.expr.free_symbols for name in group for a in self.pops[name].integrate):
                out("t = n * dt")
            out("# deliveries: the spikes of step n - 1 arrive")
            for name in group:
                pop = self.pops[name]
                for a in pop.inputs:
                    value, varying = self.input_value(a)
                    out(f"{a.name} = D_{a.name}[n]" + (f" + {value}" if varying else ""))
                for var in sorted({c.variable for c in self.into[name] if not c.recurrent and not c.is_input}):
                    out(f"{var} = {var} + D_{var}[n]")
                recurrent = [c for c in self.into[name] if c.recurrent]
                if recurrent:
                    out("if n:")
                    with out.indent():
                        for c in recurrent:
                            product = f"{self.src(c, step='n - 1')} @ weights[{c.weight!r}]"
                            out(f"{c.variable} = {c.variable} + {self.scaled(c, product)}  # {c.name}")
            for name in group:
                self.forward_step(out, name)
        return None

    def forward_step(self, out: Lines, name: str) -> None:
        tp, pop, layer = self.tp, self.pops[name], self.layer[name]
        needs = self.needs[name]
        out(f"# {name}: integrate, spike, reset")
        for v in layer.state:
            if v in needs or v in self.targeted(name):
                out(f"S[{v!r}][n] = {v}")
        for v in layer.inputs:
            if v in needs:
                out(f"I[{v!r}][n] = {v}")
        if pop.refractory is not None:
            out(f"{self.n(name, 'active')} = {self.n(name, 'ref')} == 0")
            out(f"ACTIVE[{name!r}][n] = {self.n(name, 'active')}")
        for a in pop.integrate:
            _assign(out, a)
        for v in layer.state:
            if u_name(v) in needs or (name == tp.output and v == layer.state[0]):
                out(f"U[{v!r}][n] = {v}")
        spike = code(pop.threshold)  # the simulator's own test
        active = f" & {self.n(name, 'active')}" if pop.refractory is not None else ""
        z = self.n(name, "z")
        store = f"Z[{name!r}][n]"
        if tp.smooth is not None:
            margin = code(layer.condition.xreplace({symbol(u_name(v)): symbol(v) for v in layer.state}))
            smooth = code(tp.smooth.xreplace({C: sympy.Symbol("c_")}))
            out("if smooth:")
            with out.indent():
                out(f"c_ = {margin}")
                out(f"{store} = {smooth}" + (f" * {self.n(name, 'active')}" if active else ""))
                if pop.refractory is not None:
                    out(f"{self.n(name, 'fired')} = {spike}{active}")
            out("else:")
            with out.indent():
                out(f"{store} = {spike}{active}")
                if pop.refractory is not None:
                    out(f"{self.n(name, 'fired')} = {store} > 0")
        else:
            out(f"{store} = {spike}{active}")
            if pop.refractory is not None:
                out(f"{self.n(name, 'fired')} = {store} > 0")
        out(f"{z} = {store}")
        updates = {v: reset_update(layer, v) for v in layer.state}
        updates = {v: e for v, e in updates.items() if e is not None}
        if updates:
            out(f"zr_ = {z} if frozen_reset is None else frozen_reset[{name!r}][n]")
            u_of = {symbol(u_name(v)): symbol(v) for v in layer.state}
            if len(updates) > 1:  # every reset reads the values before any of them
                u_of = {symbol(u_name(v)): symbol(self.n(v, "u_")) for v in layer.state}
                for v in layer.state:
                    out(f"{self.n(v, 'u_')} = {v}")
            for v, e in updates.items():
                out(f"{v} = {code(e.xreplace(u_of).xreplace({Z: sympy.Symbol('zr_')}))}")
        if pop.refractory is not None:
            out(f"{self.n(name, 'ref')} = np.where({self.n(name, 'fired')}, {self.n(name, 'ref_steps')}, np.maximum({self.n(name, 'ref')} - 1, 0))")

    # ---- backward ------------------------------------------------------------------------
    def backward(self) -> str:
        out = Lines()
        self.parameters(out)
        tp = self.tp
        for c in tp.connections:
            out(f"grads[{c.weight!r}] = np.zeros(({c.n_pre}, {c.n_post}), dtype=REAL)")
        for group in reversed(tp.groups):
            self.backward_group(out, group)
        return out.text(1)

    def kept(self, name: str) -> set[str]:
        """Variables whose gradient is kept for every step (for weights, biases, and recurrent carries)."""
        keep = set(self.targeted(name))
        if self.tp.bias:
            keep |= set(self.layer[name].inputs)
        return keep

    def varying(self, name: str, e: sympy.Basic) -> bool:
        """Whether a coefficient changes from step to step (reads state, inputs, spikes or time)."""
        layer = self.layer[name]
        per_step = set(layer.state) | {u_name(v) for v in layer.state} | set(layer.inputs) | {"z", "t"}
        return bool({s.name for s in e.free_symbols} & per_step)

    def coefficients(self, out: Lines, name: str) -> dict:
        """The derivatives of one population's step, as printed factors.

        Constant ones are printed inline; those that vary are computed for every step
        at once before the loop over time (from the stored S, U, I, Z, ACTIVE) and read
        as K<k>_<name>[n] in it. Returns {key: factor text} for the keys
        ("dr_dz", k), ("dr_du", j, k), ("dc_du", k), ("ds", k, j), ("dI", k, m) and "sg".
        """
        pop, layer = self.pops[name], self.layer[name]
        refractory = pop.refractory is not None
        factors: dict = {}
        arrays: list[tuple[str, str]] = []
        cache: dict[str, str] = {}

        def factor(key, e: sympy.Basic, held: sympy.Basic | None = None, active: bool = False):
            held = e if held is None else held
            if e == 0 and held == 0:
                return
            if not refractory or (e == held and not active):
                if not self.varying(name, e):
                    factors[key] = e
                    return
                text = code(e)
            elif active:
                text = f"({code(e)}) * {self.n(name, 'active')}"
            else:
                text = f"np.where({self.n(name, 'active')}, {code(e)}, {code(held)})"
            if text not in cache:
                cache[text] = self.n(name, f"K{len(cache)}")
                arrays.append((cache[text], text))
            factors[key] = cache[text] + "[n]"

        for v, d in layer.dr_dz.items():
            factor(("dr_dz", v), d)
        for (j, k), d in layer.dr_du.items():
            factor(("dr_du", j, k), d)
        for k, d in layer.dc_du.items():
            factor(("dc_du", k), d)
        factor("sg", self.tp.dspike.xreplace({C: layer.condition}), active=refractory)
        for k in layer.state:
            for j in layer.state:
                factor(("ds", k, j), layer.du_ds.get((k, j), sympy.Integer(0)),
                       layer.du_ds_held.get((k, j), sympy.Integer(0)) if refractory else None)
            for m in layer.inputs:
                factor(("dI", k, m), layer.du_dI.get((k, m), sympy.Integer(0)),
                       layer.du_dI_held.get((k, m), sympy.Integer(0)) if refractory else None)
        if arrays:
            out(f"# {name}: the factors of the chain rule that change from step to step, all steps at once")
            needs = self.needs[name]
            for v in layer.state:
                if v in needs:
                    out(f"{v} = S[{v!r}]")
                if u_name(v) in needs:
                    out(f"{u_name(v)} = U[{v!r}]")
            for v in layer.inputs:
                if v in needs:
                    out(f"{v} = I[{v!r}]")
            if "z" in needs:
                out(f"z = Z[{name!r}]")
            if "t" in needs:
                out("t = np.arange(T)[:, None, None] * dt")
            if refractory:
                out(f"{self.n(name, 'active')} = ACTIVE[{name!r}]")
            for k_name, text in arrays:
                out(f"{k_name} = np.broadcast_to({text}, (T, B, {pop.size}))")
        return factors

    def backward_group(self, out: Lines, group: list[str]) -> None:
        tp = self.tp
        out(f"# ---- group {group}, backwards in time")
        factors = {}
        for name in group:
            pop, layer = self.pops[name], self.layer[name]
            out(f"GZ_{name} = np.zeros((T, B, {pop.size}), dtype=REAL) if grad_z.get({name!r}) is None "
                f"else np.array(np.broadcast_to(grad_z[{name!r}], (T, B, {pop.size})), dtype=REAL)")
            for c in self.out_of[name]:
                if c.recurrent:
                    continue
                product = f"G_{c.variable}[1:].reshape(-1, {c.n_post}) @ weights[{c.weight!r}].T"
                drop = f" * mask[{name!r}]"
                out(f"GZ_{name}[:-1] += ({self.scaled(c, product)}).reshape(T - 1, B, {pop.size}){drop}  # {c.name}")
            for v in layer.state:
                out(f"g_{v} = np.zeros((B, {pop.size}), dtype=REAL)  # dL/d{v} after step n")
            for v in sorted(self.kept(name)):
                out(f"G_{v} = np.empty((T, B, {pop.size}), dtype=REAL)")
            for v in layer.state:
                out(f"GU_{v} = (grad_u or {{}}).get({v!r})")
            factors[name] = self.coefficients(out, name)
        out("for n in range(T - 1, -1, -1):")
        with out.indent():
            for name in group:
                self.backward_step(out, name, factors[name])
        for name in group:
            for c in self.into[name]:
                product = f"{self.src(c)}[:-1].reshape(-1, {c.n_pre}).T @ G_{c.variable}[1:].reshape(-1, {c.n_post})"
                out(f"grads[{c.weight!r}] += {self.scaled(c, product)}  # {c.name}")
            if tp.bias:
                for m in self.layer[name].inputs:
                    out(f"grads[{m!r}] = G_{m}.sum(axis=(0, 1))")

    def backward_step(self, out: Lines, name: str, factors: dict) -> None:
        tp, pop, layer = self.tp, self.pops[name], self.layer[name]

        def term(key, g: str):
            f = factors[key]
            return f"{f} * {g}" if isinstance(f, str) else _term(f, g)

        out(f"# {name}: dL/dz of step n from the loss, the connections leaving the group and recurrent ones")
        out(f"g_z = GZ_{name}[n]")
        recurrent = [c for c in self.out_of[name] if c.recurrent]
        if recurrent:
            out("if n + 1 < T:")
            with out.indent():
                for c in recurrent:
                    product = f"G_{c.variable}[n + 1] @ weights[{c.weight!r}].T"
                    out(f"g_z = g_z + {self.scaled(c, product)} * mask[{name!r}]  # {c.name}")
        if not tp.detach_reset:
            parts = [term(("dr_dz", v), f"g_{v}") for v in layer.state if ("dr_dz", v) in factors]
            if parts:
                out("g_z = " + _sum(["g_z"] + parts))
        out("# through the reset s' = R(u, z)")
        for k in layer.state:
            parts = [term(("dr_du", j, k), f"g_{j}") for j in layer.state if ("dr_du", j, k) in factors]
            out(f"gu_{k} = " + (_sum(parts) if parts else "0.0"))
            out(f"if GU_{k} is not None:")
            with out.indent():
                out(f"gu_{k} = gu_{k} + GU_{k}[n]")
        out("# through the spike z = H(c(u)), its derivative replaced by the surrogate")
        out("g_c = " + term("sg", "g_z"))
        for k in layer.state:
            if ("dc_du", k) in factors:
                out(f"gu_{k} = " + _sum([f"gu_{k}", term(("dc_du", k), "g_c")]))
        out("# through the integration u = G(s, I) (G_held while refractory)")
        for m in layer.inputs:
            if m in self.kept(name):
                parts = [term(("dI", k, m), f"gu_{k}") for k in layer.state if ("dI", k, m) in factors]
                out(f"G_{m}[n] = " + (_sum(parts) if parts else "0.0"))
        for j in layer.state:
            parts = [term(("ds", k, j), f"gu_{k}") for k in layer.state if ("ds", k, j) in factors]
            out(f"g_{j} = " + (_sum(parts) if parts else f"np.zeros((B, {pop.size}), dtype=REAL)"))
            if j in self.kept(name):
                out(f"G_{j}[n] = g_{j}")

    def context(self) -> dict:
        tp = self.tp
        return {
            "tp": tp,
            "layers": [layer.population for layer in tp.layers],
            "groups": tp.groups,
            "state": {layer.population: layer.state for layer in tp.layers},
            "inputs": {layer.population: layer.inputs for layer in tp.layers},
            "sizes": {layer.population: self.pops[layer.population].size for layer in tp.layers},
            "defaults": self.defaults(),
            "connections": tp.connections,
            "forward_code": self.forward(),
            "backward_code": self.backward(),
        }

    def defaults(self) -> str:
        """Code of ``input_values``: the constant default of every input variable."""
        out = Lines()
        self.parameters(out)
        for layer in self.tp.layers:
            pop = self.pops[layer.population]
            for a in pop.inputs:
                value, varying = self.input_value(a)
                if not varying:
                    out(f"values[{a.name!r}] = np.broadcast_to({value}, ({pop.size},)).astype(REAL)")
        return out.text(1)
