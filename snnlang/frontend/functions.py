"""The functions a spec may call, and how each treats dimensions.

Nothing outside this table can be called from a spec: ``lower`` rejects any
other name, so a spec cannot reach Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from functools import lru_cache

import sympy

# Functions SymPy does not have; the printers of each target define them.
clip = sympy.Function("clip")
uniform = sympy.Function("uniform")
normal = sympy.Function("normal")
rand = sympy.Function("rand")
randn = sympy.Function("randn")


class phi1(sympy.Function):
    """(exp(z) - 1) / z, equal to 1 at z = 0: the divided difference of exp over 0 and z.

    Not callable from a spec: the integration schemes write it (exponential Euler, and the
    exact propagator wherever two rates may be equal at run time). Each target prints it
    through ``expm1``, so it is accurate for every z, tiny and zero included: ``rt.phi1``
    of the NumPy runtime, the ``phi1`` device function of the CUDA kernels.
    """

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sympy.Integer(1)
        return None

    def _eval_mpmath(self):
        import mpmath

        return (lambda z: mpmath.expm1(z) / z if z else mpmath.mpf(1)), self.args

    def _eval_is_extended_real(self):
        return self.args[0].is_extended_real

    def _eval_is_extended_positive(self):  # exp is increasing: the slope of a chord is positive
        return self.args[0].is_extended_real


def _where(cond, a, b):
    return sympy.Piecewise((a, cond), (b, True))


def _heaviside(x):
    # H(0) = 1: the spike convention v >= threshold.
    return sympy.Piecewise((1, sympy.Ge(x, 0)), (0, True))


@dataclass(frozen=True)
class Function:
    build: Callable
    nargs: tuple[int, ...]
    dims: str  # "dimensionless": arguments and result are pure numbers;
    #            "same": arguments share a dimension, the result has it;
    #            "dimensionless-result": any argument, a pure number out;
    #            "where": a condition, then two branches of one dimension.
    random: bool = False


FUNCTIONS: dict[str, Function] = {
    "exp": Function(sympy.exp, (1,), "dimensionless"),
    "log": Function(sympy.log, (1,), "dimensionless"),
    "log10": Function(lambda x: sympy.log(x, 10), (1,), "dimensionless"),
    "sin": Function(sympy.sin, (1,), "dimensionless"),
    "cos": Function(sympy.cos, (1,), "dimensionless"),
    "tan": Function(sympy.tan, (1,), "dimensionless"),
    "tanh": Function(sympy.tanh, (1,), "dimensionless"),
    "sinh": Function(sympy.sinh, (1,), "dimensionless"),
    "cosh": Function(sympy.cosh, (1,), "dimensionless"),
    "atan": Function(sympy.atan, (1,), "dimensionless"),
    "sqrt": Function(sympy.sqrt, (1,), "same"),  # a power: dims.py reads it as x**(1/2)
    "abs": Function(sympy.Abs, (1,), "same"),
    "floor": Function(sympy.floor, (1,), "same"),
    "ceil": Function(sympy.ceiling, (1,), "same"),
    "sign": Function(sympy.sign, (1,), "dimensionless-result"),
    "heaviside": Function(_heaviside, (1,), "dimensionless-result"),
    "min": Function(sympy.Min, (2, 3, 4), "same"),
    "max": Function(sympy.Max, (2, 3, 4), "same"),
    "clip": Function(clip, (3,), "same"),
    "where": Function(_where, (3,), "where"),
    "uniform": Function(uniform, (2,), "same", random=True),
    "normal": Function(normal, (2,), "same", random=True),
    "rand": Function(rand, (0,), "dimensionless", random=True),
    "randn": Function(randn, (0,), "dimensionless", random=True),
}

RANDOM_FUNCTIONS = (uniform, normal, rand, randn)

#: Names every expression may use: time, the step, indices, sizes, constants.
BUILTINS = {
    "t": "time since the start of the run",
    "dt": "the time step",
    "i": "index of the neuron (of the presynaptic neuron in a connection)",
    "j": "index of the postsynaptic neuron in a connection",
    "N": "size of the population (N_pre, N_post in a connection)",
    "N_pre": "size of the presynaptic population",
    "N_post": "size of the postsynaptic population",
    "pi": "3.14159...",
}


@lru_cache(maxsize=65536)  # the same names again and again (SymPy's own cache is slower to ask)
def symbol(name: str) -> sympy.Symbol:
    """The symbol of a spec name; every stage builds names through this one function."""
    return sympy.Symbol(name, real=True)


def is_random(expr: sympy.Basic) -> bool:
    return any(isinstance(f, sympy.core.function.AppliedUndef) and f.func in RANDOM_FUNCTIONS
               for f in expr.atoms(sympy.Function))
