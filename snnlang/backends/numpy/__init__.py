"""The NumPy target: prints a Plan as a standalone, vectorised NumPy package.

Decisions live in the plan and its schedule; this package only lays the plan's statements out
as Python lines (through :mod:`..printer`) and fills the templates of ``templates/numpy/``:
``state.py`` prints what a run holds (initial state, connectivity, the loads before the loop),
``step.py`` one step (a method per operation of the schedule).
"""
from __future__ import annotations

from ...plan.ir import ConnectionPlan, Plan
from ...plan.schedule import Deliver
from .fixed import Fixed
from .state import State
from .step import Step
from .synapse_params import per_synapse

TARGET = "numpy"


class NumpyEmitter(State, Step, Fixed):
    def __init__(self, plan: Plan):
        self.plan = plan
        self.n = plan.symbols  # every name this target makes: n(owner, role)
        #: generated name -> the spec's name (for messages and comments)
        self.spec_name = {q: v for owner in plan.populations + plan.connections for v, q in owner.local.items()}
        self.pops = {p.name: p for p in plan.populations}
        self.sources = {s.name: s for s in plan.sources}
        self.conns = {c.name: c for c in plan.connections}
        self.sizes = {p.name: p.size for p in plan.populations} | {s.name: s.size for s in plan.sources}
        schedule = plan.schedule
        #: connection -> how the plan delivers it (members of a stacked group: the group's delivery)
        self.route = {}
        for op in schedule.ops(Deliver):
            for name in op.group or (op.connection,):
                self.route[name] = op
        #: stacked groups by their first connection
        self.together = {op.connection: [self.conns[n] for n in op.group] for op in schedule.ops(Deliver) if op.group}
        if plan.precision == "loihi":  # fixed point (fixed.py): no stacked state, each connection its own weights
            self.together = {}
        self.delayed = {name for name, h in schedule.history.items() if h.every_step}
        #: connection parameters that may hold one value per synapse (synapse_params.py): key -> (connection, why not)
        self.per_synapse = per_synapse(plan)
        self._each = {prm.name for c in plan.connections for prm in c.params if self.per_synapse[prm.key][1] is None}

    def each_params(self, expr) -> list[str]:
        """The parameters an expression reads that may hold one value per synapse (an array set at
        run time), in name order; none in the partitioned variant (a split network refuses them)."""
        if self.part or expr is None:
            return []
        return sorted(s.name for s in expr.free_symbols if s.name in self._each)

    def each_weight(self, c: ConnectionPlan) -> str | None:
        """The name of the per-synapse weights of a linear connection whose one weight may become one
        per synapse (a parameter of it set as an array); None for the others."""
        if self.fixed or c.linear is None or self._weighted(c) or not self.each_params(c.linear[1]):
            return None
        return self.n(c.name, "synapse_weight")

    def _gathered(self, c: ConnectionPlan) -> bool:
        """Delivered from each spiking neuron's list of targets (gathered or stacked)."""
        return c.name in self.route and self.route[c.name].strategy in ("gathered", "stacked")

    def _weighted(self, c: ConnectionPlan) -> bool:
        return c.name in self.route and self.route[c.name].weighted

    def describe(self) -> dict:
        """What every target's templates show of the plan: parameters, sizes, monitors."""
        plan = self.plan
        params = {}
        units = {}
        for owner in plan.populations + plan.connections:
            for prm in owner.params:
                params[prm.key] = prm.value
                units[prm.key] = prm.unit or "1 (dimensionless)"
        return {
            "plan": plan,
            "params": params,
            "units": units,
            "sizes": self.sizes,
            "populations": [p.name for p in plan.populations],
            "sources": [s.name for s in plan.sources],
            "event_sources": [s for s in plan.sources if s.kind == "events"],
            # state keys of each event source's queue: (steps, indices)
            "event_keys": {s.name: (self.n(s.name, "event_step"), self.n(s.name, "event_index"))
                           for s in plan.sources if s.kind == "events"},
            "monitors": plan.monitors,
            "per_synapse": self.per_synapse,
            "finite": {p.name: p.finite_check for p in plan.populations},
            "finite_labels": {v: (p.name, self.spec_name[v]) for p in plan.populations for v in p.finite_check},
        }

    def partition_problems(self) -> list[str]:
        """Why this network cannot be split over processes (MPI), if it cannot: each reason a line."""
        plan, problems = self.plan, []
        if plan.precision == "loihi":
            problems.append("precision = loihi (Loihi's fixed point) runs in one process")
        for c in plan.connections:
            if c.traces or c.on_post:
                problems.append(f"connection {c.name} is plastic (traces, on_post): plasticity runs in one process")
            elif any(st.side == "pre" or (st.side == "target" and st.index == "pre") for st in c.on_pre):
                problems.append(f"connection {c.name}: its on_pre writes to presynaptic neurons, which other processes hold")
        for m in plan.monitors:
            if m.kind == "synapses":
                problems.append(f"monitor {', '.join(m.variables)} of {m.population}: a synapse monitor runs in one process")
        for s in plan.sources:
            if s.kind == "poisson" and s.counts:  # the exchange carries one spike a neuron and step
                problems.append(f"input {s.name}: poisson(..., counts = true) runs in one process")
        return problems

    def partitioned(self) -> dict:
        """The partitioned variant of reset, _index and _advance (one process's part; parallel.py)."""
        self.part = True
        try:
            loop, epilogue = self.loop(), self.epilogue()
            return {"reset_part_code": self.reset(), "prologue_part_code": self.prologue(loop + "\n" + epilogue),
                    "loop_part_code": loop, "epilogue_part_code": epilogue, "index_part_code": self.index()}
        finally:
            self.part = False

    def context(self) -> dict:
        plan = self.plan
        loop, epilogue = self.loop(), self.epilogue()
        problems = self.partition_problems()
        return {
            **(self.partitioned() if not problems else {}),
            "partition_refused": "; ".join(problems) or None,
            "synapse_arrays_refused": "",  # per-synapse parameter arrays: as PER_SYNAPSE says
            "exchange": plan.schedule.exchange,
            **self.describe(),
            "fixed": [self.n(c.name, k) for c in plan.connections
                      for k in ("pre", "post", "group_delay", "group_ptr") + (("by_post", "post_ptr") if c.on_post else ())]
            + [c.delay_array for c in plan.connections if c.delay_array],
            "reset_code": self.reset(),
            "prologue_code": self.prologue(loop + "\n" + epilogue),
            "loop_code": loop,
            "epilogue_code": epilogue,
            "index_code": self.index(),
        }
