"""Time constants: the parameters that must be positive for a run to mean anything.

A parameter in seconds that divides the rate at which a state variable decays in its
own equation (``dv/dt = (E_l - v) / tau_m``: d(rhs)/dv = -1/tau_m) is a time constant
of that variable. Zero divides by zero (the propagator exp(-dt/tau) is NaN or 0/0), and
a negative one turns the decay into growth without bound; neither is a model anyone
means. The rule needs no values: it is the parameter's place in the equations, so the
same table serves ``snnlang check`` (a default or an override that is a constant <= 0 is
an error at its place) and a run (a ``--set`` value <= 0 is refused with a message).

* :func:`decays`: which parameters divide which variables' decay rates, in equations;
* :func:`time_constants`: ``{"cells.tau_m": "the time constant of v in ..."}`` for a
  network of a checked model, keyed as the plan's (and the package's) parameters are;
* :func:`refuse_non_positive`: the messages for values of those keys that are <= 0.
"""
from __future__ import annotations

from typing import Iterable, Optional

import sympy

from ..frontend.dims import DimensionError, Poison, constant_value
from ..frontend.functions import symbol
from ..frontend.units import dim

SECOND = dim(s=1)


def decays(odes: dict[str, sympy.Basic], candidates: Iterable[str]) -> dict[str, list[str]]:
    """Parameter -> the variables whose decay rate d(dx/dt)/dx it divides (a factor 1/p,
    or 1/p**k, anywhere in the rate: -1/tau, -(1/tau_1 + 1/tau_2), -y/tau ...)."""
    names = set(candidates)
    out: dict[str, list[str]] = {}
    for x, rhs in odes.items():
        if not isinstance(rhs, sympy.Basic) or isinstance(rhs, Poison) or rhs.has(Poison):
            continue
        rate = sympy.diff(rhs, symbol(x))
        for power in rate.atoms(sympy.Pow):
            base = power.base
            if base.is_Symbol and base.name in names and power.exp.is_negative and x not in out.get(base.name, ()):
                out.setdefault(base.name, []).append(x)
    return out


def expand_definitions(odes, aliases) -> dict[str, sympy.Basic]:
    """The right-hand sides of ODEs (model nodes) with algebraic definitions substituted, to
    a fixed point (a cycle, which check reports, stops after as many rounds as definitions)."""
    defs = {symbol(a.name): a.value.value for a in aliases if not isinstance(a.value.value, Poison)}
    out = {}
    for ode in odes:
        rhs = ode.rhs.value
        if isinstance(rhs, Poison):
            continue
        for _ in range(len(defs) + 1):
            new = rhs.xreplace(defs)
            if new == rhs:
                break
            rhs = new
        out[ode.var] = rhs
    return out


def seconds(expr) -> Optional[float]:
    """The value of a constant expression in seconds; None for anything else."""
    if expr is None or isinstance(expr.value, Poison):
        return None
    try:
        found = constant_value(expr.value)
    except (DimensionError, OverflowError, TypeError):
        return None
    return found[0] if found and found[1] == SECOND else None


def model_time_constants(owner) -> dict[str, list[str]]:
    """Parameter -> the variables it is the time constant of, for a neuron or synapse model:
    the parameters in seconds (by their defaults) that divide a decay rate of its ODEs."""
    timed = {v.name for v in owner.parameters if seconds(v.value) is not None}
    odes = tuple(owner.odes) + tuple(getattr(owner, "pre_odes", ())) + tuple(getattr(owner, "post_odes", ()))
    return decays(expand_definitions(odes, owner.aliases), timed)


def spec_name(model, name: str) -> str:
    """A synapse's name as the spec writes it: a connection that adds events to a synapse
    (``using STDP { on_pre: ... }``) gets a copy named ``<connection>__<synapse>``."""
    prefix, _, rest = name.partition("__")
    connections = {c.name for net in model.networks.values() for c in net.connections}
    return rest if rest and prefix in connections and rest in model.synapses else name


def describe(variables: list[str], kind: str, model_name: str) -> str:
    """``a time constant of v in neuron 'LIF'``."""
    return f"a time constant of {', '.join(variables)} in {kind} '{model_name}'"


def message(name: str, value: float, description: str) -> str:
    """``tau_m = -20 ms, but it is a time constant of v in neuron 'LIF': it must be positive``."""
    return f"{name} = {value * 1e3:g} ms, but it is {description}: it must be positive"


def time_constants(model, network: Optional[str] = None) -> dict[str, str]:
    """``{"cells.tau_m": "a time constant of v in neuron 'CubaLIF'"}`` for
    every time constant of a network of a checked model (the simulated one by default),
    keyed as the plan's parameters (``Param.key``: population or connection, a dot, the name).

    A run checks the values it is given against it (``snnlang run --set``)::

        problems = refuse_non_positive(time_constants(driver.load(spec)), values)
    """
    if network is None:
        candidates = list(model.simulations) or list(model.networks)
        if not candidates:
            return {}
        network = candidates[0]
    net = model.networks[network]
    out: dict[str, str] = {}
    for pop in net.populations:
        neuron = model.neurons.get(pop.neuron)
        if neuron is not None:
            for param, variables in model_time_constants(neuron).items():
                out[f"{pop.name}.{param}"] = describe(variables, "neuron", neuron.name)
    for c in net.connections:
        syn = model.synapses.get(c.synapse)
        if syn is not None:
            for param, variables in model_time_constants(syn).items():
                out[f"{c.name}.{param}"] = describe(variables, "synapse", spec_name(model, syn.name))
    return out


def refuse_non_positive(constants: dict[str, str], values: dict[str, Optional[float]]) -> list[str]:
    """One message per value (by full key, ``cells.tau_m``) that is a time constant and not
    positive; ``None`` (a per-element value) and NaN pass here (NaN is refused elsewhere)."""
    problems = []
    for key, value in values.items():
        if key in constants and value is not None and value <= 0:
            problems.append(message(key, value, constants[key]))
    return problems
