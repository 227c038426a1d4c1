"""Expression printers: SymPy expressions of the plan to target code.

One printer class per target dialect, each a handful of overrides of SymPy's
own printers. Names are printed as the plan qualified them; a name read for
a set of elements (the active synapses of an event) is printed indexed.
"""
from __future__ import annotations

import sympy
from sympy.printing.c import C99CodePrinter
from sympy.printing.numpy import NumPyPrinter


class Dialect:
    """What the NumPy and CUDA printers share: each dialect names its tokens."""

    AND, OR, NOT, TRUE, FALSE = " & ", " | ", "~", "True", "False"
    MIN, MAX = "np.minimum", "np.maximum"
    indexed: dict[str, str]

    def literal(self, value: float) -> str:
        return repr(float(value))

    def where(self, cond: str, yes: str, no: str) -> str:
        return f"np.where({cond}, {yes}, {no})"

    def array(self, name: str, index: str) -> str:
        return f"{name}[{index}]"

    def plain(self, name: str) -> str:
        return name

    def _print_Symbol(self, expr):
        index = self.indexed.get(expr.name)
        return self.array(expr.name, index) if index else self.plain(expr.name)

    def _print_Float(self, expr):
        return self.literal(float(expr))

    def _print_Rational(self, expr):
        return self.literal(float(expr))

    def _print_Exp1(self, expr):
        return self.literal(float(sympy.E))

    def _print_Pi(self, expr):
        return self.literal(float(sympy.pi))

    def _print_Piecewise(self, expr):
        *branches, (last, _) = expr.args
        out = self._print(last)
        for value, cond in reversed(branches):
            out = self.where(self._print(cond), self._print(value), out)
        return out

    def _relational(self, expr, op):
        return f"({self._print(expr.lhs)} {op} {self._print(expr.rhs)})"

    def _print_StrictGreaterThan(self, expr):
        return self._relational(expr, ">")

    def _print_GreaterThan(self, expr):
        return self._relational(expr, ">=")

    def _print_StrictLessThan(self, expr):
        return self._relational(expr, "<")

    def _print_LessThan(self, expr):
        return self._relational(expr, "<=")

    def _print_Equality(self, expr):
        return self._relational(expr, "==")

    def _print_Unequality(self, expr):
        return self._relational(expr, "!=")

    def _print_And(self, expr):
        return "(" + self.AND.join(self._print(a) for a in expr.args) + ")"

    def _print_Or(self, expr):
        return "(" + self.OR.join(self._print(a) for a in expr.args) + ")"

    def _print_Not(self, expr):
        return f"({self.NOT}{self._print(expr.args[0])})"

    def _print_BooleanTrue(self, expr):
        return self.TRUE

    def _print_BooleanFalse(self, expr):
        return self.FALSE

    def _fold(self, func: str, args) -> str:
        out = self._print(args[0])
        for a in args[1:]:
            out = f"{func}({out}, {self._print(a)})"
        return out

    def _print_Min(self, expr):
        return self._fold(self.MIN, expr.args)

    def _print_Max(self, expr):
        return self._fold(self.MAX, expr.args)


class NumpyPrinter(Dialect, NumPyPrinter):
    """Vectorised NumPy: ``np.`` functions, ``np.where`` for conditions."""

    def __init__(self, indexed: dict[str, str] | None = None):
        super().__init__({"fully_qualified_modules": True, "allow_unknown_functions": True})
        self.indexed = indexed or {}

    def _module_format(self, fqn, register=True):
        return fqn.replace("numpy.", "np.", 1) if fqn.startswith("numpy.") else fqn

    def _print_Integer(self, expr):
        return str(int(expr))

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp.is_Integer and exp < 0:  # 1/x**n: NumPy's power of a negative integer is slow
            inverse = base if exp == -1 else sympy.Pow(base, -exp)
            return f"1/{self.parenthesize(inverse, sympy.printing.precedence.PRECEDENCE['Mul'] + 1)}"
        if exp == sympy.Rational(1, 2):
            return f"np.sqrt({self._print(base)})"
        if exp.is_Integer:
            return f"{self.parenthesize(base, sympy.printing.precedence.PRECEDENCE['Pow'] + 1)}**{int(exp)}"
        return super()._print_Pow(expr, rational=rational)

    def _print_Function(self, expr):
        name = expr.func.__name__
        args = ", ".join(self._print(a) for a in expr.args)
        if name == "clip":
            return f"np.clip({args})"
        if name == "phi1":
            return f"rt.phi1({args})"
        return super()._print_Function(expr)


def numpy_code(expr: sympy.Basic, indexed: dict[str, str] | None = None) -> str:
    return NumpyPrinter(indexed).doprint(expr)


class CudaPrinter(Dialect, C99CodePrinter):
    """CUDA C: the NumPy dialect's overrides in C syntax (``?:`` for conditions, ``fmin``/``fmax``).

    Every number is printed as a floating-point literal (an integer such as the
    ``N`` of ``i / N`` would divide as an integer in C); ``clip`` and ``phi1`` are
    device functions of the generated ``kernels.cu``. ``precision="float"`` prints
    single-precision literals and functions (``expf``); the default is double.
    A name read for a set of elements is printed as ``d_<name>[<index>]``, the
    device array of the kernel's arguments.
    """

    AND, OR, NOT, TRUE, FALSE = " && ", " || ", "!", "true", "false"

    def __init__(self, indexed: dict[str, str] | None = None, precision: str = "double",
                 names: dict[str, str] | None = None):
        from sympy.codegen.ast import float32, real

        settings = {"allow_unknown_functions": True, "math_macros": {}}
        if precision == "float":
            settings["type_aliases"] = {real: float32}
        elif precision != "double":
            raise ValueError(f"precision must be 'double' or 'float', not {precision!r}")
        super().__init__(settings)
        self.indexed = indexed or {}
        self.names = names or {}  # name -> C text, for names a kernel keeps elsewhere
        self.suffix = "f" if precision == "float" else ""
        self.MIN, self.MAX = f"fmin{self.suffix}", f"fmax{self.suffix}"

    def literal(self, value: float) -> str:
        if value != value:
            return "(0.0/0.0)"
        if value in (float("inf"), float("-inf")):
            return f"({'-' if value < 0 else ''}1.0/0.0)"
        text = repr(float(value))
        if "." not in text and "e" not in text:
            text += ".0"
        return text + self.suffix

    def where(self, cond: str, yes: str, no: str) -> str:
        return f"({cond} ? {yes} : {no})"

    def array(self, name: str, index: str) -> str:
        return f"d_{name}[{index}]"

    def plain(self, name: str) -> str:
        return self.names.get(name, name)

    def _print_Integer(self, expr):
        return self.literal(float(int(expr)))

    _print_Zero = _print_Integer

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        prec = sympy.printing.precedence.PRECEDENCE
        if exp == -1:
            return f"{self.literal(1.0)}/{self.parenthesize(base, prec['Mul'] + 1)}"
        if exp == sympy.Rational(1, 2):
            return f"sqrt{self.suffix}({self._print(base)})"
        if exp == 2:  # as NumPy squares: x*x
            b = self.parenthesize(base, prec["Mul"] + 1)
            return f"({b}*{b})"
        return f"pow{self.suffix}({self._print(base)}, (real)({self._print(exp)}))"

    def _print_Function(self, expr):
        name = expr.func.__name__
        if name in ("clip", "phi1"):
            return f"{name}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)


def cuda_code(expr: sympy.Basic, indexed: dict[str, str] | None = None, precision: str = "double",
              names: dict[str, str] | None = None) -> str:
    return CudaPrinter(indexed, precision, names).doprint(expr)
