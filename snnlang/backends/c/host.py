"""The Python side of the c package: what a run computes once on the host (parameters, the
constants of each scheme with the NumPy target's own expressions, weight matrices, Poisson
probabilities) and what each call of ``snnrun`` receives and returns."""
from __future__ import annotations

from ..lines import Lines
from ..printer import numpy_code


class Host:
    def prologue(self) -> str:
        out = Lines()
        if self.part:  # one process's part of a split network (split.py)
            self.split_prologue(out)
        for pop in self.plan.populations:
            out(f"# {pop.name}: parameters, constants of the {pop.method} scheme")
            for prm in pop.params:
                out(f"{prm.name} = p[{prm.key!r}]" if prm.value is not None else f"{prm.name} = s[{prm.name!r}]")
            for a in pop.constants:
                out(f"{a.target} = {numpy_code(a.expr)}")
            if pop.refractory is not None:
                until = self.n(pop.name, "refractory_until")
                ref_steps = self.n(pop.name, "ref_steps")
                if pop.refractory_uniform:
                    out(f"{ref_steps} = int({numpy_code(pop.refractory)})  # refractory in the steps after a spike")
                    out(f"{until} = _array(s, {until!r}, np.int64)  # a lowered t_ref ends running periods within {ref_steps} steps")
                    out(f"np.minimum({until}, start + {ref_steps} - 1, out={until}, where={until} >= start)")
                else:
                    out(f"{ref_steps} = np.ascontiguousarray(np.broadcast_to({numpy_code(pop.refractory)}, "
                        f"({self.host_size(pop.name)},)), dtype=np.int64)")
            for a in pop.inputs:
                key = f"{pop.name}.{self.spec_name[a.name]}"
                out(f"b[{a.name!r}] = np.zeros({self.host_size(pop.name)}, dtype=REAL)  # this step's value (deliveries add to it)")
                out(f"{self.n(a.name, 'value')} = self.inputs.get({key!r})  # set from outside, or None")
        for src in self.plan.sources:
            if src.kind != "poisson":
                continue
            out(f"# input {src.name}: spike probability per step")
            split = self._split(src.name)  # its neurons held here (split.py): i are their indices
            out(f"i = {self.n(src.name, 'own')}" if split else f"i = np.arange({src.size})")
            fixed = "None"
            if src.rate_key:
                out(f"{self.n(src.name, 'rate_value')} = self.inputs.get({src.rate_key!r})  # rates set from outside")
                fixed = self.n(src.name, "rate_fixed")
                value = f"rt.constant_input({self.n(src.name, 'rate_value')}, {src.size})"
                out(f"{fixed} = " + (f"rt.held({value}, i)" if split else value))
            out(f"{self.n(src.name, 'p')} = _per_neuron(({numpy_code(src.rate)} if {fixed} is None else {fixed}) * dt, "
                f"{self.host_size(src.name)})")
        for c in self.plan.connections:
            if c.params:
                out(f"# {c.name}: {c.synapse}")
            for prm in c.params:
                out(f"{prm.name} = p[{prm.key!r}]")
            if self.route[c.name].strategy == "dense":
                target, weight = c.linear
                for name in c.state:
                    out(f"{name} = s[{name!r}]")
                out(f"{self.n(c.name, 'weight')} = np.ascontiguousarray(rt.dense(s[{self.n(c.name, 'pre')!r}], "
                    f"s[{self.n(c.name, 'post')!r}], {numpy_code(weight)}, {c.n_pre}, {self.host_size(c.target)}), "
                    "dtype=REAL)  # pre x post (split: the columns of the neurons held here)")
        out("b['synops'] = np.zeros(1, dtype=np.int64)")
        callables = [a for p in self.plan.populations for a in p.inputs]
        out("piece = _CHUNK  # steps a call")
        for a in callables:
            out(f"if callable({self.n(a.name, 'value')}):  # tabulated for each call: bounded tables")
            with out.indent():
                out(f"piece = min(piece, max(1, 2**22 // {self.sizes[self._owner(a.name)]}))")
        for src in self.plan.sources:
            if src.kind == "poisson" and src.rate_key:
                out(f"if callable({self.n(src.name, 'rate_value')}):")
                with out.indent():
                    out(f"piece = min(piece, max(1, 2**22 // {src.size}))")
        from .plastic import host_prologue  # plasticity: constants of synapses, tables of decay powers, synapse inputs
        host_prologue(self, out)
        if self.part:
            self.split_buffers(out)
            out("table = None  # the pointer table of the arrays, kept while they stay the same")
        out("reals = np.array([" + "".join(f"{host}, " for _, host in self.reals) + "], dtype=np.float64)")
        return out.text(2)

    def _owner(self, input_name: str) -> str:
        return next(p.name for p in self.plan.populations if any(a.name == input_name for a in p.inputs))

    def call_code(self, indent: int = 3) -> str:
        """Before each call: the outside inputs of its steps, the monitors' buffers, the pointer table."""
        out = Lines()
        for pop in self.plan.populations:
            for a in pop.inputs:
                out(f"{self.n(a.name, 'table')}, {self.n(a.name, 'rows')}, {self.n(a.name, 'first')} = "
                    + self._held_columns(pop.name, f"_outside({self.n(a.name, 'value')}, step, end, {pop.size})"))
        for src in self.plan.sources:
            if src.kind != "poisson":
                continue
            names = f"{self.n(src.name, 'rate_table')}, {self.n(src.name, 'rate_rows')}, {self.n(src.name, 'rate_first')}"
            if src.rate_key:
                out(f"{names} = (None, 0, 0) if {self.n(src.name, 'rate_fixed')} is not None else "
                    + self._held_columns(src.name, f"_outside({self.n(src.name, 'rate_value')}, step, end, {src.size})"))
            else:
                out(f"{names} = None, 0, 0")
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "spikes":
                out(f"if b.get('record{k}') is None or b['record{k}'].size < self.capacity[{k}]:")
                with out.indent():
                    out(f"b['record{k}'] = np.empty(self.capacity[{k}], dtype=np.int64)  # spikes of {m.population}")
                if self.part:  # kept from call to call (the pointer table with them)
                    out(f"_buffer(b, 'record{k}_count', (end - step,), np.int64)  # per step")
                else:
                    out(f"b['record{k}_count'] = np.zeros(end - step, dtype=np.int64)  # per step")
            elif self.part:
                shape = f"(len(_sampled(step, end, {m.every})), {len(m.qualified)}, {self.n('', f'monitor{k}_cols')}.size)"
                out(f"_buffer(b, 'record{k}', {shape}, REAL)")
            else:
                n = len(range(m.start, m.stop, m.step))
                out(f"b['record{k}'] = np.empty((len(_sampled(step, end, {m.every})), {len(m.qualified)}, {n}), dtype=REAL)")
        arrays = "[" + "".join(f"{host}, " for _, _, host, _ in self.slots) + "]"
        if self.part:
            self.split_call(out)
            out(f"arrays = table = _native.table({arrays}, table)")
        else:
            out(f"arrays = {arrays}")
        out("ints = np.array([" + "".join(f"{host}, " for _, host in self.ints) + "], dtype=np.int64)")
        return out.text(indent)

    def _held_columns(self, name: str, table: str) -> str:
        """An outside input's table (steps x neurons) as step.c reads it: its columns of the neurons held here."""
        return f"_held({table}, {self.n(name, 'own')})" if self._split(name) else table

    def collect_code(self, indent: int = 3) -> str:
        """After each call: the monitors' buffers into the records."""
        out = Lines()
        for k, m in enumerate(self.plan.monitors):
            if m.kind == "spikes":
                out(f"rec[{k}] += _spike_rows(step, b['record{k}_count'][:done - step], b['record{k}'])")
            else:
                out(f"rec[{k}] += _state_rows(_sampled(step, done, {m.every}), b['record{k}'])")
        if self.part:
            self.split_collect(out)
        return out.text(indent)

    def finish_code(self) -> str:
        """After a run: refractoriness as the NumPy target keeps it (-1 where a period is over)."""
        out = Lines()
        for pop in self.plan.populations:
            if pop.refractory is not None and pop.refractory_uniform:
                until = self.n(pop.name, "refractory_until")
                out(f"{until} = s[{until!r}]")
                out(f"{until}[{until} < stop] = -1")
        return out.text(2)
