"""Prints a TrainingPlan as batched NumPy forward and backward passes (``training.py``).

Arrays carry a batch dimension (B, N) and a time dimension in front (T, B, N).
The plan groups the populations (its ``groups``); each group has one Python
loop over time, connections between groups are one matrix product over all
steps (shifted by the one-step delivery). The forward pass prints the plan's
own step statements; the backward pass prints the derivatives
:mod:`snnlang.plan.gradients` took of them. Nothing here decides mathematics.
"""
from __future__ import annotations

from typing import Optional

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


#: Functions of one argument that have a NumPy ufunc (written with ``out=``).
UFUNCS = {sympy.Abs: "np.absolute", sympy.exp: "np.exp", sympy.log: "np.log", sympy.sqrt: "np.sqrt",
          sympy.sin: "np.sin", sympy.cos: "np.cos", sympy.tanh: "np.tanh", sympy.atan: "np.arctan"}


class InPlace:
    """Prints ``target = expr`` for a kept (steps, batch, neurons) array as NumPy calls that
    write into it (``out=``), so that no temporary of that size is allocated.

    Sums and products fold one term at a time into the target; a compound term is computed
    in a scratch array (``scratch(depth)`` gives its text); what has no ufunc here
    (conditions, Piecewise, runtime functions) is assigned as printed.
    """

    def __init__(self, out: Lines, scratch):
        self.out, self.scratch = out, scratch

    def into(self, e: sympy.Basic, target: str, depth: int = 0) -> None:
        out = self.out
        if e.is_Atom:
            out(f"{target}[...] = {code(e)}")
        elif isinstance(e, (sympy.Add, sympy.Mul)):
            self.fold(e, target, depth)
        elif isinstance(e, sympy.Pow) and e.exp.is_Integer and e.exp != 0:
            self.into(e.base, target, depth)
            n = abs(int(e.exp))
            if n == 2:
                out(f"np.square({target}, out={target})")
            elif n != 1:
                out(f"np.power({target}, {n}, out={target})")
            if e.exp < 0:
                out(f"np.divide(1.0, {target}, out={target})")
        elif isinstance(e, sympy.Pow) and e.exp == sympy.Rational(1, 2):
            self.into(e.base, target, depth)
            out(f"np.sqrt({target}, out={target})")
        elif e.func in UFUNCS and len(e.args) == 1:
            self.into(e.args[0], target, depth)
            out(f"{UFUNCS[e.func]}({target}, out={target})")
        elif isinstance(e, (sympy.Max, sympy.Min)):
            self.fold(e, target, depth)
        else:
            out(f"{target}[...] = {code(e)}")

    def fold(self, e: sympy.Basic, target: str, depth: int) -> None:
        """A sum, product, maximum or minimum, term by term into the target."""
        if isinstance(e, sympy.Add):
            ufunc, inverse = "np.add", "np.subtract"
            split = lambda a: (-a, True) if a.could_extract_minus_sign() else (a, False)  # noqa: E731
        elif isinstance(e, sympy.Mul):
            ufunc, inverse = "np.multiply", "np.divide"
            split = lambda a: (1 / a, True) if a.is_Pow and a.exp.is_Number and a.exp < 0 else (a, False)  # noqa: E731
        else:
            ufunc, inverse = ("np.maximum", None) if isinstance(e, sympy.Max) else ("np.minimum", None)
            split = lambda a: (a, False)  # noqa: E731
        terms = [split(a) for a in e.args]
        # start from a compound term (computed in the target itself), else from two atoms in one call
        first = next((k for k, (a, inv) in enumerate(terms) if not a.is_Atom), None)
        done = {first}
        if first is not None:
            a, inv = terms[first]
            self.into(a, target, depth)
            if inv:  # x - a or x / a with an atom x, or 0 - a, 1 / a
                atom = next((k for k, (b, i) in enumerate(terms) if b.is_Atom and not i), None)
                if atom is not None:
                    self.out(f"{inverse}({code(terms[atom][0])}, {target}, out={target})")
                    done.add(atom)
                elif ufunc == "np.add":
                    self.out(f"np.negative({target}, out={target})")
                else:
                    self.out(f"np.divide(1.0, {target}, out={target})")
        else:  # atoms only: the first one not inverted, with the next one in one call
            first = next((k for k, (a, inv) in enumerate(terms) if not inv), None)
            if first is None:  # -a - b ..., 1 / (a b ...): from the first (inverted) atom
                a = code(terms[0][0])
                self.out(f"np.negative({a}, out={target})" if ufunc == "np.add" else f"np.divide(1.0, {a}, out={target})")
                done = {0}
            else:
                done = {first}
                second = next((k for k in range(len(terms)) if k != first), None)
                if second is None:
                    self.into(terms[first][0], target, depth)
                else:
                    b, inv = terms[second]
                    self.out(f"{inverse if inv else ufunc}({code(terms[first][0])}, {code(b)}, out={target})")
                    done.add(second)
        for k, (a, inv) in enumerate(terms):
            if k in done:
                continue
            if a.is_Atom:
                operand = code(a)
            else:
                operand = f"scratch{depth}_"
                self.out(f"{operand} = {self.scratch(depth)}")
                self.into(a, operand, depth + 1)
            self.out(f"{inverse if inv else ufunc}({target}, {operand}, out={target})")


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
        if step is None:
            return f"DZ[{c.source!r}]"
        return f"(Z[{c.source!r}][{step}] * mask[{c.source!r}])"

    @staticmethod
    def work(name: str, size, dtype: str = "") -> str:
        """A (steps, batch, size) array kept in ``buffers`` between calls."""
        return f"work(buffers, {name!r}, (T, B, {size}){', ' + dtype if dtype else ''})"

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
                if v == self.reset_in_place(name):
                    out(f"{self.n(v, 'reset')} = np.empty((B, {pop.size}), dtype=REAL)  # {v} after the reset")
                if v in needs or v in self.targeted(name):
                    out(f"S[{v!r}] = {self.work('S/' + v, pop.size)}")
                if u_name(v) in needs or (name == tp.output and v == layer.state[0]):
                    out(f"U[{v!r}] = {self.work('U/' + v, pop.size)}")
            for v in layer.inputs:
                if v in needs:
                    out(f"I[{v!r}] = {self.work('I/' + v, pop.size)}")
            out(f"Z[{name!r}] = {self.work('Z/' + name, pop.size)}")
            if pop.refractory is not None:
                out(f"{self.n(name, 'ref')} = np.zeros((B, {pop.size}), dtype=np.int64)")
                out(f"{self.n(name, 'ref_steps')} = int({code(pop.refractory)})")
                out(f"ACTIVE[{name!r}] = {self.work('ACTIVE/' + name, pop.size, 'bool')}")
            # what arrives from outside the group, all steps at once (spikes of step n - 1 at step n)
            external = [c for c in self.into[name] if not c.recurrent]
            targets = [a.name for a in pop.inputs] + sorted({c.variable for c in external if not c.is_input})
            for var in targets:
                into = [c for c in external if c.variable == var]
                out(f"D_{var} = {self.work('D_' + var, pop.size)}")
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
        for name in group:
            if self.out_of[name]:
                out(f"DZ[{name!r}] = Z[{name!r}]  # the spikes {name} delivers, times its dropout mask if it has one")
                out(f"if {name!r} in masked:")
                with out.indent():
                    kept = self.work("DZ/" + name, self.pops[name].size)
                    out(f"DZ[{name!r}] = np.multiply(Z[{name!r}], mask[{name!r}], out={kept})")
        return None

    def stored(self, name: str) -> list[str]:
        """State variables whose value after integration (before the reset) is kept for every step."""
        layer, needs = self.layer[name], self.needs[name]
        return [v for v in layer.state if u_name(v) in needs or (name == self.tp.output and v == layer.state[0])]

    def integrated_in_place(self, name: str) -> set[str]:
        """Stored variables whose one integration statement is computed in U[v][n] itself."""
        targets = [a.target for a in self.pops[name].integrate]
        return {a.target for a in self.pops[name].integrate
                if a.target in self.stored(name) and a.where is None and targets.count(a.target) == 1}

    def reset_in_place(self, name: str) -> Optional[str]:
        """The one variable a reset changes, when it was integrated in place: its reset is then
        computed in a kept (batch, neurons) array (the value it reads is in U[v][n])."""
        layer = self.layer[name]
        updates = [v for v in layer.state if reset_update(layer, v) is not None]
        if len(updates) == 1 and updates[0] in self.integrated_in_place(name):
            return updates[0]
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
        stored = self.stored(name)
        in_place = self.integrated_in_place(name)
        for a in pop.integrate:
            if a.target in in_place:
                # computed in its stored value U[v][n] itself, with no temporary
                out(f"# {a.target} = {code(a.expr)}")
                out(f"u_ = U[{a.target!r}][n]")
                InPlace(out, lambda depth: f"work(buffers, 'step{depth}', (B, {pop.size}))").into(a.expr, "u_")
                out(f"{a.target} = u_")
            else:
                _assign(out, a)
        for v in stored:
            if v not in in_place:
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
                e = e.xreplace(u_of).xreplace({Z: sympy.Symbol("zr_")})
                if v == self.reset_in_place(name):  # into the kept array of the value after the reset
                    out(f"# {v} = {code(e)}")
                    InPlace(out, lambda depth: f"work(buffers, 'step{depth}', (B, {pop.size}))").into(e, self.n(v, "reset"))
                    out(f"{v} = {self.n(v, 'reset')}")
                else:
                    out(f"{v} = {code(e)}")
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
                text, how = code(e), (e, None)
            elif active:
                text, how = f"({code(e)}) * {self.n(name, 'active')}", (e, "active")
            else:
                text = f"np.where({self.n(name, 'active')}, {code(e)}, {code(held)})"
                how = (None, text)
            if text not in cache:
                cache[text] = self.n(name, f"K{len(cache)}")
                arrays.append((cache[text], text, how))
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
            self.all_steps(out, name)
            for k_name, text, (e, how) in arrays:
                out(f"# {k_name} = {text}")
                out(f"{k_name} = {self.work(k_name, pop.size)}")
                if e is None:  # held while refractory
                    out(f"{k_name}[...] = {how}")
                    continue
                InPlace(out, lambda depth: self.work(f"scratch{depth}", pop.size)).into(e, k_name)
                if how == "active":
                    out(f"{k_name} *= {self.n(name, 'active')}")
        return factors

    def all_steps(self, out: Lines, name: str) -> None:
        """Binds the names the derivatives read to their stored values of every step."""
        layer, needs = self.layer[name], self.needs[name]
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
        if self.pops[name].refractory is not None:
            out(f"{self.n(name, 'active')} = ACTIVE[{name!r}]")

    def linear(self, group: list[str]) -> Optional[dict]:
        """The derivatives of a layer whose backward step is one linear recurrence, or None.

        With one state variable v, no refractoriness and no recurrent connection, the step's
        chain rule is dL/du[n] = F[n] + M[n] dL/du[n + 1], where (sg the surrogate at step n)
          M = (dr/du + dc/du sg dr/dz) du'/dv      (dr/dz dropped by detach_reset)
          F = dc/du sg dL/dz[n] (+ grad_u[n]).
        M and F are computed for all steps at once; the loop does two operations per step.
        Needs du'/dv (the next step's integration) constant.
        """
        if len(group) != 1:
            return None
        name = group[0]
        pop, layer = self.pops[name], self.layer[name]
        if pop.refractory is not None or len(layer.state) != 1 or self.targeted(name) - set(layer.inputs):
            return None
        if any(c.recurrent for c in self.into[name] + self.out_of[name]):
            return None
        v = layer.state[0]
        ds = layer.du_ds.get((v, v), sympy.Integer(0))
        if self.varying(name, ds):
            return None
        sg, gz = sympy.Symbol("SG"), sympy.Symbol("GZ")
        reset = layer.dr_du.get((v, v), sympy.Integer(0))
        if not self.tp.detach_reset:
            reset = reset + layer.dc_du.get(v, sympy.Integer(0)) * sg * layer.dr_dz.get(v, sympy.Integer(0))
        return {"v": v, "M": reset * ds, "F": layer.dc_du.get(v, sympy.Integer(0)) * sg * gz,
                "dI": {m: layer.du_dI.get((v, m), sympy.Integer(0)) for m in sorted(self.kept(name))}}

    def backward_linear(self, out: Lines, name: str, lin: dict) -> None:
        pop, v = self.pops[name], lin["v"]
        size = pop.size
        scratch = lambda depth: self.work(f"scratch{depth}", size)  # noqa: E731
        out(f"# {name}: dL/du[n] = F[n] + M[n] dL/du[n + 1], M and F for all steps at once")
        self.all_steps(out, name)
        sg = self.tp.dspike.xreplace({C: self.layer[name].condition})
        out(f"# SG = {code(sg)}  (the surrogate)")
        out(f"SG = {self.work('SG_' + name, size)}")
        InPlace(out, scratch).into(sg, "SG")
        out(f"GZ = GZ_{name}")
        out(f"# M = {code(lin['M'])}")
        out(f"M_{name} = {self.work('M_' + name, size)}")
        InPlace(out, scratch).into(lin["M"], f"M_{name}")
        out(f"# F = {code(lin['F'])}")
        out(f"F_{name} = {self.work('F_' + name, size)}")
        InPlace(out, scratch).into(lin["F"], f"F_{name}")
        out(f"if (grad_u or {{}}).get({v!r}) is not None:")
        with out.indent():
            out(f"F_{name} += grad_u[{v!r}]")
        # dL/du itself is the gradient of an input that enters with factor 1 (I: v = beta v + I)
        same = [m for m, d in lin["dI"].items() if d == 1]
        gu = f"G_{same[0]}" if same else f"GU_{name}"
        out(f"{gu} = {self.work(gu, size)}  # dL/du[n]" + (f" = dL/d{same[0]}[n]" if same else ""))
        out(f"{gu}[T - 1] = F_{name}[T - 1]")
        out("for n in range(T - 2, -1, -1):")
        with out.indent():
            out(f"np.multiply(M_{name}[n], {gu}[n + 1], out={gu}[n])")
            out(f"{gu}[n] += F_{name}[n]")
        for m, d in lin["dI"].items():
            if f"G_{m}" == gu:
                continue
            out(f"# dL/d{m} = ({code(d)}) dL/du")
            out(f"G_{m} = {self.work('G_' + m, size)}")
            InPlace(out, scratch).into(d * sympy.Symbol(gu), f"G_{m}")

    def backward_group(self, out: Lines, group: list[str]) -> None:
        tp = self.tp
        out(f"# ---- group {group}, backwards in time")
        factors = {}
        lin = self.linear(group)
        for name in group:
            pop, layer = self.pops[name], self.layer[name]
            out(f"# {name}: dL/dz from the loss (grad_z) and the connections leaving the group")
            out(f"GZ_{name} = {self.work('GZ_' + name, pop.size)}")
            leaving = [c for c in self.out_of[name] if not c.recurrent]
            if leaving:  # the first one written in place (the last step delivers nothing)
                c = leaving[0]
                out(f"GZ_{name}[-1] = 0.0")
                out(f"np.matmul(G_{c.variable}[1:].reshape(-1, {c.n_post}), weights[{c.weight!r}].T, "
                    f"out=GZ_{name}[:-1].reshape(-1, {pop.size}))  # {c.name}")
                if c.scale != 1.0:
                    out(f"GZ_{name}[:-1] *= {c.scale!r}")
                out(f"if {name!r} in masked:")
                with out.indent():
                    out(f"GZ_{name}[:-1] *= mask[{name!r}]")
                out(f"if grad_z.get({name!r}) is not None:")
                with out.indent():
                    out(f"np.add(GZ_{name}, grad_z[{name!r}], out=GZ_{name}, dtype=REAL)")
            else:
                out(f"GZ_{name}[...] = 0.0 if grad_z.get({name!r}) is None else grad_z[{name!r}]")
            for c in leaving[1:]:
                product = f"G_{c.variable}[1:].reshape(-1, {c.n_post}) @ weights[{c.weight!r}].T"
                out(f"GZ_{name}[:-1] += ({self.scaled(c, product)}).reshape(T - 1, B, {pop.size}) * mask[{name!r}]  # {c.name}")
            if lin is not None:
                self.backward_linear(out, name, lin)
                continue
            for v in layer.state:
                out(f"g_{v} = np.zeros((B, {pop.size}), dtype=REAL)  # dL/d{v} after step n")
            for v in sorted(self.kept(name)):
                out(f"G_{v} = {self.work('G_' + v, pop.size)}")
            for v in layer.state:
                out(f"GU_{v} = (grad_u or {{}}).get({v!r})")
            factors[name] = self.coefficients(out, name)
        if lin is None:
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
