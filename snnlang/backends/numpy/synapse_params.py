"""Which parameters of a connection take one value per synapse at run time.

``Network(params={"exc_inh.g_max": array})`` gives a connection's parameter one value per
synapse, in the order of the connection's synapses (``state["<connection>_pre"]`` /
``["<connection>_post"]``, the order of weights.npz). The plan computes with every parameter
as one number; a parameter can hold an array only where the package reads it synapse by
synapse: in the weight of a linear delivery and in on_pre / on_post statements that act per
synapse (on a synapse state, or adding to the neuron on the other side). Read anywhere else (a
trace's or the synapse's equations, a statement done once per spike, an initial value drawn at
reset, an input) it stays one number, and an array for it is refused with the reason.
"""
from __future__ import annotations

from ...frontend.functions import symbol
from ...plan.ir import ConnectionPlan, Plan


def per_synapse(plan: Plan, weight_only: frozenset[str] | None = None) -> dict[str, tuple[str, str | None]]:
    """key -> (connection, None) for each connection parameter that may be given one value per
    synapse; (connection, why it is one number) for the others. ``weight_only``: connections
    whose only per-synapse reading is the weight that the host computes (the Lava target's
    static connections); every other connection's parameters are then one number."""
    found = {}
    for c in plan.connections:
        for prm in c.params:
            if weight_only is not None and c.name not in weight_only:
                why = "the Lava target keeps it as one number in a plastic connection's learning rule"
            else:
                why = _why_one_number(c, prm.name, weight_only is not None)
            found[prm.key] = (c.name, why)
    return found


def _why_one_number(c: ConnectionPlan, name: str, weight_only: bool) -> str | None:
    """None where every reading of the parameter ``name`` is per synapse (and there is one), else why not."""
    s = symbol(name)
    spec = {q: v for v, q in c.local.items()}

    def reads(expr) -> bool:
        return expr is not None and s in expr.free_symbols

    for a in c.arrays:
        if reads(a.expr):
            what = "the delays" if a.name == c.delay_array else f"the initial value of {spec.get(a.name, a.name)}"
            return f"it is used in {what}, drawn at reset() for every synapse"
    if reads(c.p) or reads(c.condition) or reads(c.delay):
        return "it decides the connectivity (its probability, condition or delay)"
    if any(reads(a.expr) for a in c.traces + c.trace_constants + c.trace_decay):
        return "it is used in the pre/post traces, which are kept per neuron"
    if any(reads(a.expr) for a in c.syn_constants + c.syn_integrate):
        return "it is used in the equations of the synapse, which the package integrates with one number per connection"
    if any(reads(a.expr) for a in c.inputs):
        return "it is used in an input of the connection, one value per step"
    per_synapse = False
    for event, statements in (("on_pre", c.on_pre), ("on_post", c.on_post)):
        for st in statements:
            if not reads(st.expr):
                continue
            if st.side not in ("synapse", "target"):  # a variable of the neuron that spiked: once per spike
                return (f"{event} reads it once per spike (it changes {spec.get(st.target, st.target)} of the "
                        "neuron that spiked), not per synapse")
            if weight_only and c.linear is None:
                return f"the Lava target reads it in {event} statements that it does not compute per synapse on the host"
            per_synapse = True
    if c.linear is not None and reads(c.linear[1]):
        per_synapse = True
    if not per_synapse:
        return "no weight or on_pre/on_post statement of the connection reads it per synapse"
    return None
