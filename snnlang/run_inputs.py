"""``snnlang run --input pop.var=FILE.npy`` and ``--set pop.var=VALUE`` on input variables.

An input variable (``inputs { I_ext = 0 nA }`` of a neuron) takes, every step, the value its
population gives it; ``Network.set_input`` replaces that value from outside, as Brian2's
``TimedArray`` does. From the command line:

* ``--input exc.I_ext=current.npy``: a table of the variable's values in SI units (A, V, V/s, ...),
  shape (steps, neurons) or (steps, 1), or (steps,): one value a step for every neuron. Row k is
  the value at step k; after the last row the last row holds. ``--input src.rate=rates.npy`` does
  the same for the rates (Hz) of a poisson input.
* ``--set exc.I_ext=1nA``: one value for every neuron and step, in place of the default.
"""
from __future__ import annotations

from pathlib import Path

from .frontend.units import format_dim


def input_variables(module, plan: dict) -> dict[str, tuple[int, str]]:
    """key ('population.variable', 'source.rate') -> (number of neurons, unit) of what
    set_input may set in this package."""
    found = {}
    for name, pop in plan.get("populations", {}).items():
        for var in pop.get("inputs", []):
            found[f"{name}.{var}"] = (int(pop["size"]), pop.get("units", {}).get(var) or format_dim((0,) * 7))
    for name in plan.get("poisson", []):
        found[f"{name}.rate"] = (int(module.SIZES[name]), format_dim((0, 0, -1, 0, 0, 0, 0)))
    return found


def owner_of(key: str, variables: dict) -> list[str]:
    """The input keys ``key`` names: 'exc.I_ext', or 'I_ext' for every population that has it."""
    return [k for k in variables if k == key or k.split(".", 1)[1] == key]


def read_table(text: str, variables: dict) -> tuple[str, object]:
    """``pop.var=FILE.npy`` -> (key, the table as set_input takes it); ValueError saying what is wrong."""
    import numpy as np

    key, sep, file = text.partition("=")
    key, file = key.strip(), file.strip()
    if not sep or not key or not file:
        raise ValueError(f"--input {text!r}: expected population.variable=FILE.npy, such as exc.I_ext=current.npy")
    if key not in variables:
        known = ", ".join(variables) or "none"
        raise ValueError(f"--input {text!r}: {key!r} is not an input variable of this network (population.variable "
                         f"of an inputs {{ }} section, or source.rate of a poisson input); it has: {known}")
    n, unit = variables[key]
    try:
        table = np.load(Path(file), allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"--input {text!r}: cannot read {file!r} as a .npy array ({e})") from None
    if not isinstance(table, np.ndarray):
        table.close()
        raise ValueError(f"--input {text!r}: {file!r} is an .npz; give one array as a .npy file")
    if table.dtype.kind not in "biuf":
        raise ValueError(f"--input {text!r}: {file!r} holds {table.dtype} values, not real numbers")
    table = table.astype(float)
    if table.ndim == 1:
        table = table[:, None]  # one value a step, for every neuron
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] not in (1, n):
        raise ValueError(f"--input {text!r}: the table has shape {table.shape}; {key} takes (steps, {n}), (steps, 1) "
                         f"or (steps,), in {unit} (SI)")
    if not np.isfinite(table).all():
        row, col = (int(x) for x in np.argwhere(~np.isfinite(table))[0])
        raise ValueError(f"--input {text!r}: the value at step {row}, neuron {col} is not finite")
    return key, table


def apply_inputs(net, values: dict, tables: dict) -> None:
    """--set values of input variables (one number each), then --input tables."""
    for key, value in {**values, **tables}.items():
        net.set_input(key, value)
