"""What the c target does not print: refused at build, at the construct's place."""
from __future__ import annotations

from ...plan.ir import Plan
from .plastic import problems as plasticity  # event statements, traces, equations that step.c does not print

#: The names a Poisson rate may read besides parameters (evaluated once a run, on the host).
_RATE_NAMES = {"i", "dt", "N"}


def problems(plan: Plan) -> list[tuple[str, str, str]]:
    """(kind, name, message) of every construct the c target cannot print yet."""
    found = plasticity(plan)  # (the arithmetic a target prints is the registry's: backends/__init__.py)
    for m in plan.monitors:
        recorded = set(m.qualified)
        if m.kind == "state" and (m.as_slice() != (m.start, m.stop, m.step)
                                  or any(not (v.is_Symbol and v.name in recorded) for v in m.values)):
            found.append(("population", m.population, f"a monitor of {', '.join(m.variables)} of {m.population} with "
                          "several selections, or of a parameter or definition, which the c target does not "
                          "record yet; use --target numpy"))
    for m in plan.monitors:
        if m.kind == "synapses":
            found.append(("connection", m.population, f"monitor {', '.join(m.variables)} of {m.population}: the c "
                          "target does not record synapse state yet; use --target numpy or cupy"))
    for c in plan.connections:
        if c.refractory_reads:  # refractory_post in on_pre, or an addition to a held variable under 'as brian2'
            found.append(("connection", c.name, f"connection {c.name}: its on_pre reads the refractoriness of "
                          f"{', '.join(sorted(set(c.refractory_reads.values())))} (refractory_post or refractory_pre, "
                          "or an addition to a variable held while refractory under 'as brian2'), which the c target "
                          "does not print yet; use --target numpy or cupy"))
    params = {prm.name for owner in plan.populations + plan.connections for prm in owner.params}
    for s in plan.sources:
        if s.kind == "poisson" and s.rate is not None:
            other = {x.name for x in s.rate.free_symbols} - _RATE_NAMES - params
            if other:
                found.append(("input", s.name, f"the rate of input {s.name} reads {', '.join(sorted(other))}, which "
                              "the c target does not print yet (a rate may use i and parameters); use --target numpy"))
        if s.kind == "poisson" and s.counts:
            found.append(("input", s.name, f"input {s.name}: poisson(..., counts = true) is not printed by the c "
                                           "target yet; use --target numpy"))
    for d in plan.drives:
        found.append(("input", d.name, f"input {d.name}: poisson_drive(...) is not printed by the c target yet; "
                                       "use --target numpy"))
    return found


def check_supported(plan: Plan) -> None:
    """SpecError naming each construct the c target refuses, at its place in the spec."""
    found = problems(plan)
    if found:
        raise refusal(plan, found)


def refusal(plan: Plan, found: list[tuple[str, str, str]]):
    """The located error: the plan holds no places, so they are read from the spec's model again
    (only when the target refuses something)."""
    from ...frontend.diagnostics import Diagnostics, SpecError
    from ...frontend import analyse
    from ...frontend.model import Loc

    model, diags_found = analyse(plan.spec)
    network = model.networks.get(plan.network) if model is not None else None
    places = {}
    if network is not None:
        places.update({("connection", c.name): c.synapse_loc or c.loc for c in network.connections})
        places.update({("input", s.name): s.loc for s in network.inputs})
        places.update({("population", p.name): p.loc for p in network.populations})
    fallback = network.loc if network is not None else Loc(file=str(plan.spec), line=1, column=1)
    diags = Diagnostics()
    diags.sources.update(diags_found.sources)
    for kind, name, message in found:
        diags.error(places.get((kind, name), fallback), f"target c: {message}")
    return SpecError(diags)
