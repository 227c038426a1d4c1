"""Physical units: names, SI prefixes, dimensions.

A quantity in the model is a SymPy expression in SI: ``20 ms`` becomes
``s/50``, where ``s`` is one of the seven base-unit symbols of
:mod:`snnlang.dims`.  The
plan replaces base units by 1 to get plain SI numbers; the checker reads the
dimension of any expression off the base units it contains.

A unit library such as pint would do this job too, but loading pint's
registry costs about 0.3 s, more than half of the time budget of
``snnlang check``; the field needs a few dozen units, listed here.
"""
from __future__ import annotations

from fractions import Fraction


#: Order of the exponents in a dimension vector.
BASE_NAMES = ("m", "kg", "s", "A", "K", "mol", "cd")

Dim = tuple[int, int, int, int, int, int, int]
DIMENSIONLESS: Dim = (0, 0, 0, 0, 0, 0, 0)




def dim(**exponents: int) -> Dim:
    return tuple(exponents.get(n, 0) for n in BASE_NAMES)  # type: ignore[return-value]


# name -> (scale to the coherent SI unit, dimension)
_UNITS: dict[str, tuple[Fraction, Dim]] = {}


def _unit(names: str, scale: Fraction | int, d: Dim, prefixable: bool = True) -> None:
    for name in names.split():
        _UNITS[name] = (Fraction(scale), d)
        if prefixable:
            _PREFIXABLE.add(name)


_PREFIXABLE: set[str] = set()
_PREFIXES = {
    "Y": Fraction(10) ** 24, "Z": Fraction(10) ** 21, "E": Fraction(10) ** 18,
    "P": Fraction(10) ** 15, "T": Fraction(10) ** 12, "G": Fraction(10) ** 9,
    "M": Fraction(10) ** 6, "k": Fraction(10) ** 3, "h": Fraction(10) ** 2,
    "da": Fraction(10), "d": Fraction(1, 10), "c": Fraction(1, 100),
    "m": Fraction(1, 10**3), "u": Fraction(1, 10**6), "µ": Fraction(1, 10**6),
    "n": Fraction(1, 10**9), "p": Fraction(1, 10**12), "f": Fraction(1, 10**15),
    "a": Fraction(1, 10**18), "z": Fraction(1, 10**21), "y": Fraction(1, 10**24),
}

_VOLT = dim(kg=1, m=2, s=-3, A=-1)
_OHM = dim(kg=1, m=2, s=-3, A=-2)
_SIEMENS = dim(kg=-1, m=-2, s=3, A=2)
_FARAD = dim(kg=-1, m=-2, s=4, A=2)
_unit("s second", 1, dim(s=1))
_unit("Hz hertz", 1, dim(s=-1))
_unit("m metre meter", 1, dim(m=1))
_unit("g gram", Fraction(1, 1000), dim(kg=1))
_unit("V volt", 1, _VOLT)
_unit("A amp ampere", 1, dim(A=1))
_unit("ohm", 1, _OHM)
_unit("S siemens", 1, _SIEMENS)
_unit("F farad", 1, _FARAD)
_unit("C coulomb", 1, dim(A=1, s=1))
_unit("W watt", 1, dim(kg=1, m=2, s=-3))
_unit("J joule", 1, dim(kg=1, m=2, s=-2))
_unit("N newton", 1, dim(kg=1, m=1, s=-2))
_unit("Pa pascal", 1, dim(kg=1, m=-1, s=-2))
_unit("K kelvin", 1, dim(K=1))
_unit("mol mole", 1, dim(mol=1))
_unit("M molar", 1000, dim(mol=1, m=-3))
_unit("L l litre liter", Fraction(1, 1000), dim(m=3))
_unit("cd candela", 1, dim(cd=1))
_unit("min minute", 60, dim(s=1), prefixable=False)

#: Names shown for dimensions in messages, most familiar first.
_DIM_NAMES: dict[Dim, str] = {
    DIMENSIONLESS: "1 (dimensionless)",
    dim(s=1): "s", dim(s=-1): "Hz", _VOLT: "V", dim(A=1): "A", _OHM: "ohm",
    _SIEMENS: "S", _FARAD: "F", dim(A=1, s=1): "C", dim(mol=1, m=-3): "mol/m^3",
    tuple(a - b for a, b in zip(_VOLT, dim(s=1))): "V/s",
    dim(A=1, s=-1): "A/s", tuple(a - b for a, b in zip(_SIEMENS, dim(s=1))): "S/s",
}


def lookup(name: str) -> tuple[Fraction, Dim] | None:
    """Scale and dimension of a unit name such as ``mV`` or ``Mohm``; None if unknown."""
    if name in _UNITS:
        return _UNITS[name]
    for plen in (2, 1):
        prefix, base = name[:plen], name[plen:]
        if prefix in _PREFIXES and base in _PREFIXABLE:
            scale, d = _UNITS[base]
            return _PREFIXES[prefix] * scale, d
    return None


def is_unit(name: str) -> bool:
    return lookup(name) is not None


def unit_names() -> list[str]:
    """The unprefixed unit names and the common prefixed ones (for "did you mean")."""
    common = [p + u for p in ("m", "u", "n", "p", "k", "M", "G") for u in ("s", "V", "A", "S", "F", "ohm", "Hz", "M")]
    return sorted(set(_UNITS) | set(common))


def dim_add(a: Dim, b: Dim) -> Dim:
    return tuple(x + y for x, y in zip(a, b))  # type: ignore[return-value]


def dim_scale(a: Dim, k) -> Dim | None:
    """``a`` raised to the power k; None when an exponent would not be an integer."""
    out = []
    for x in a:
        v = Fraction(x) * Fraction(k)
        if v.denominator != 1:
            return None
        out.append(int(v))
    return tuple(out)  # type: ignore[return-value]


def format_dim(d: Dim) -> str:
    """A dimension as a unit people read: ``V``, ``A``, ``V/s``, else base units."""
    if d in _DIM_NAMES:
        return _DIM_NAMES[d]
    num = [f"{n}^{e}" if e != 1 else n for n, e in zip(BASE_NAMES, d) if e > 0]
    den = [f"{n}^{-e}" if e != -1 else n for n, e in zip(BASE_NAMES, d) if e < 0]
    text = "*".join(num) or "1"
    if den:
        text += "/" + ("*".join(den) if len(den) == 1 else "(" + "*".join(den) + ")")
    return text
