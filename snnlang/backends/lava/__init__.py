"""The Lava target: prints a Plan as a Lava (lava-nc 0.10) process graph.

Every decision is made elsewhere: the step order, integration and
connectivity by the plan (``snnlang/plan``), what maps onto Lava's processes
and Loihi's fixed-point arithmetic by :mod:`.loihi`. This module
lays them out as Python through :mod:`.printer` and fills ``templates/lava/``:

* ``procs/processes.py``: one Lava ``Process`` per neuron model of the spec,
  with a floating-point ``PyLoihiProcessModel`` (the plan's own update, as the
  NumPy target computes it) and, for models of the LIF shape, a bit-accurate
  fixed-point one (Loihi's CUBA neuron, as ``lava.proc.lif``'s); one per plastic
  connection (:mod:`.learning`); input sources and a recorder.
* ``network.py``: ``build_network()`` (initial state and connectivity drawn by
  the NumPy target's own code, Lava ``Dense``/``Sparse``/``DelayDense``
  processes for the static connections) and ``run()``.
* ``runtime.py``: the NumPy target's runtime (random numbers, connectivity).
"""
from __future__ import annotations

import dataclasses

from ..cupy.refuse import check_inputs  # the same refusal as the CuPy target's
from ...plan.ir import Plan, PopulationPlan
from ..numpy import NumpyEmitter
from ..numpy.synapse_params import per_synapse
from .graph import Graph
from .learning import PlasticConnection
from .loihi import LoihiPlan, loihi_plan, refusal
from .neurons import IO_CLASSES, RESERVED, NeuronClass, Neurons, _fresh

TARGET = "lava"


class LavaEmitter(Neurons, Graph):
    def __init__(self, plan: Plan):
        self.plan = plan
        check_inputs(plan, "lava")  # poisson counts and poisson_drive: no Lava process yet, refused located
        self.loihi: LoihiPlan = loihi_plan(plan)
        if self.loihi.errors:
            raise refusal(plan, self.loihi.errors)
        # the NumPy target's initial state and connectivity in SI: the fixed_pt models quantise it themselves
        self.numpy = NumpyEmitter(dataclasses.replace(plan, precision="float64", fixed_point=None))
        self.pops = {p.name: p for p in plan.populations}
        self.sources = {s.name: s for s in plan.sources}
        self.conns = {c.name: c for c in plan.connections}
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
                                                         self.loihi.delivery[c.name], RESERVED, plan.symbols)
        problems = dict(self.loihi.neuron_problems)
        for cls in self.classes.values():
            if cls.fixed_problem:
                for p in cls.pops:
                    problems.setdefault(p.name, cls.fixed_problem)
        self.fixed_problems = ([f"population {p}: {r}" for p, r in problems.items()]
                               + [f"connection {c}: {r}" for c, r in self.loihi.connection_problems.items()])
        self.report = self.loihi.report() + [f"no fixed-point model: population {p}: {r}" for p, r in problems.items()
                                             if p not in self.loihi.neuron_problems]

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
            # a static connection's weight is computed on the host: its parameters may be one value per synapse
            "per_synapse": per_synapse(self.plan, frozenset(c.name for c in self.plan.connections
                                                            if c.name not in self.loihi.plasticity)),
            "synapse_arrays_refused": "",
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
    from ...plan.randomness import constants
    from .. import environment

    context = {**numpy_context, "header": header, "package": "", "rng": constants()}
    return environment().get_template("numpy/runtime.py.j2").render(**context)


def report_lines(plan: Plan) -> list[str]:
    """What the build prints for the Lava target: quantisation errors and what has no fixed-point form."""
    return LavaEmitter(plan).report
