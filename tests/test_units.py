"""The unit system: names, SI prefixes, dimensions and how they are shown."""
from __future__ import annotations

from fractions import Fraction

import pytest
import sympy

from snnlang.frontend import units
from snnlang.frontend.dims import BASE_UNITS, DimensionError, Poison, constant_value, dimension, unit_expr
from snnlang.frontend.units import DIMENSIONLESS, dim, format_dim, lookup

VOLT = dim(kg=1, m=2, s=-3, A=-1)

#: Every unit name of units.py, with its scale to SI and its dimension, written out here
#: independently of the table in units.py.
EXPECTED_UNITS = {
    "s": (1, dim(s=1)), "second": (1, dim(s=1)),
    "Hz": (1, dim(s=-1)), "hertz": (1, dim(s=-1)),
    "m": (1, dim(m=1)), "metre": (1, dim(m=1)), "meter": (1, dim(m=1)),
    "g": (Fraction(1, 1000), dim(kg=1)), "gram": (Fraction(1, 1000), dim(kg=1)),
    "V": (1, VOLT), "volt": (1, VOLT),
    "A": (1, dim(A=1)), "amp": (1, dim(A=1)), "ampere": (1, dim(A=1)),
    "ohm": (1, dim(kg=1, m=2, s=-3, A=-2)),
    "S": (1, dim(kg=-1, m=-2, s=3, A=2)), "siemens": (1, dim(kg=-1, m=-2, s=3, A=2)),
    "F": (1, dim(kg=-1, m=-2, s=4, A=2)), "farad": (1, dim(kg=-1, m=-2, s=4, A=2)),
    "C": (1, dim(A=1, s=1)), "coulomb": (1, dim(A=1, s=1)),
    "W": (1, dim(kg=1, m=2, s=-3)), "watt": (1, dim(kg=1, m=2, s=-3)),
    "J": (1, dim(kg=1, m=2, s=-2)), "joule": (1, dim(kg=1, m=2, s=-2)),
    "N": (1, dim(kg=1, m=1, s=-2)), "newton": (1, dim(kg=1, m=1, s=-2)),
    "Pa": (1, dim(kg=1, m=-1, s=-2)), "pascal": (1, dim(kg=1, m=-1, s=-2)),
    "K": (1, dim(K=1)), "kelvin": (1, dim(K=1)),
    "mol": (1, dim(mol=1)), "mole": (1, dim(mol=1)),
    "M": (1000, dim(mol=1, m=-3)), "molar": (1000, dim(mol=1, m=-3)),
    "L": (Fraction(1, 1000), dim(m=3)), "l": (Fraction(1, 1000), dim(m=3)),
    "litre": (Fraction(1, 1000), dim(m=3)), "liter": (Fraction(1, 1000), dim(m=3)),
    "cd": (1, dim(cd=1)), "candela": (1, dim(cd=1)),
    "min": (60, dim(s=1)), "minute": (60, dim(s=1)),
}

PREFIXES = {
    "Y": Fraction(10) ** 24, "Z": Fraction(10) ** 21, "E": Fraction(10) ** 18, "P": Fraction(10) ** 15,
    "T": Fraction(10) ** 12, "G": Fraction(10) ** 9, "M": Fraction(10) ** 6, "k": Fraction(10) ** 3,
    "h": Fraction(10) ** 2, "da": Fraction(10), "d": Fraction(1, 10), "c": Fraction(1, 100),
    "m": Fraction(1, 10**3), "u": Fraction(1, 10**6), "n": Fraction(1, 10**9),
    "p": Fraction(1, 10**12), "f": Fraction(1, 10**15), "a": Fraction(1, 10**18),
    "z": Fraction(1, 10**21), "y": Fraction(1, 10**24),
}


def test_the_expected_table_lists_every_unit_of_units_py():
    assert set(units._UNITS) == set(EXPECTED_UNITS)


@pytest.mark.parametrize("name", sorted(EXPECTED_UNITS))
def test_each_unit_has_its_si_scale_and_dimension(name):
    scale, d = EXPECTED_UNITS[name]
    assert lookup(name) == (Fraction(scale), d)
    assert units.is_unit(name)


@pytest.mark.parametrize("prefix", sorted(PREFIXES))
def test_each_prefix_scales_a_unit(prefix):
    assert lookup(prefix + "V") == (PREFIXES[prefix], VOLT)
    assert lookup(prefix + "s") == (PREFIXES[prefix], dim(s=1))


@pytest.mark.parametrize("name, scale, d", [
    ("ms", Fraction(1, 1000), dim(s=1)),
    ("mV", Fraction(1, 1000), VOLT),
    ("nA", Fraction(1, 10**9), dim(A=1)),
    ("pF", Fraction(1, 10**12), dim(kg=-1, m=-2, s=4, A=2)),
    ("nS", Fraction(1, 10**9), dim(kg=-1, m=-2, s=3, A=2)),
    ("Mohm", Fraction(10**6), dim(kg=1, m=2, s=-3, A=-2)),
    ("kohm", Fraction(10**3), dim(kg=1, m=2, s=-3, A=-2)),
    ("kg", Fraction(1), dim(kg=1)),          # kilo-gram is the SI base unit
    ("cm", Fraction(1, 100), dim(m=1)),
    ("mm", Fraction(1, 1000), dim(m=1)),      # milli-metre, not a unit 'mm'
    ("mM", Fraction(1), dim(mol=1, m=-3)),    # millimolar = 1 mol/m^3
    ("uM", Fraction(1, 1000), dim(mol=1, m=-3)),
    ("mmol", Fraction(1, 1000), dim(mol=1)),
    ("daHz", Fraction(10), dim(s=-1)),        # the two-letter prefix
    ("kHz", Fraction(1000), dim(s=-1)),
    ("uF", Fraction(1, 10**6), dim(kg=-1, m=-2, s=4, A=2)),
    ("mL", Fraction(1, 10**6), dim(m=3)),
])
def test_common_prefixed_units(name, scale, d):
    assert lookup(name) == (scale, d)


@pytest.mark.parametrize("name", ["mmin", "kminute", "xV", "Vm", "msec", "volts", "", "u", "mu", "MOhm"])
def test_names_that_are_not_units(name):
    assert lookup(name) is None
    assert unit_expr(name) is None


def test_micro_is_also_spelled_with_the_greek_letter():
    assert lookup("µV") == lookup("uV") == (Fraction(1, 10**6), VOLT)


def test_unit_expr_is_the_scale_times_base_units():
    s, kg, m, A = (BASE_UNITS[n] for n in ("s", "kg", "m", "A"))
    assert unit_expr("ms") == s / 1000
    assert unit_expr("mV") == kg * m**2 / (1000 * A * s**3)
    assert unit_expr("Hz") == 1 / s


def test_base_units_are_distinct_from_spec_names():
    from snnlang.frontend.functions import symbol

    assert BASE_UNITS["s"] != symbol("s")
    assert BASE_UNITS["m"] != symbol("m")


# ---- dimension arithmetic ------------------------------------------------------------

def _dim(expr, names=None):
    names = names or {}
    return dimension(expr, lambda n: names.get(n))


def test_product_and_quotient_add_and_subtract_exponents():
    mV, ms, nA = (unit_expr(n) for n in ("mV", "ms", "nA"))
    assert _dim(mV / ms) == dim(kg=1, m=2, s=-4, A=-1)
    assert _dim(mV / nA) == dim(kg=1, m=2, s=-3, A=-2)  # ohm
    assert _dim(mV * nA) == dim(kg=1, m=2, s=-3)         # watt


def test_powers_scale_exponents_and_roots_must_be_whole():
    mV = unit_expr("mV")
    assert _dim(mV**2) == tuple(2 * e for e in VOLT)
    m2 = unit_expr("m") ** 2
    assert _dim(sympy.sqrt(m2)) == dim(m=1)
    with pytest.raises(DimensionError, match="not a whole dimension"):
        _dim(sympy.sqrt(mV))


def test_adding_different_dimensions_is_an_error_naming_both():
    with pytest.raises(DimensionError, match="cannot add (V and s|s and V)"):
        _dim(unit_expr("mV") + sympy.Symbol("x", real=True), {"x": dim(s=1)})


def test_zero_and_poison_have_any_dimension():
    assert _dim(sympy.Integer(0)) is None
    assert _dim(Poison("error")) is None
    x = sympy.Symbol("x", real=True)
    assert _dim(x + 0 * x, {"x": VOLT}) == VOLT


def test_numbers_constants_and_comparisons_are_dimensionless():
    assert _dim(sympy.Rational(3, 2)) == DIMENSIONLESS
    assert _dim(sympy.pi) == DIMENSIONLESS
    x = sympy.Symbol("x", real=True)
    assert _dim(sympy.Gt(x, unit_expr("mV"), evaluate=False), {"x": VOLT}) == DIMENSIONLESS
    with pytest.raises(DimensionError, match="cannot compare V and s"):
        _dim(sympy.Gt(x, unit_expr("ms"), evaluate=False), {"x": VOLT})


def test_functions_of_quantities():
    mV = unit_expr("mV")
    with pytest.raises(DimensionError, match=r"argument of exp\(\) must be dimensionless, not V"):
        _dim(sympy.exp(mV))
    assert _dim(sympy.exp(mV / mV)) == DIMENSIONLESS
    assert _dim(sympy.Abs(sympy.Symbol("x", real=True)), {"x": VOLT}) == VOLT
    assert _dim(sympy.Min(sympy.Symbol("x", real=True), mV), {"x": VOLT}) == VOLT
    with pytest.raises(DimensionError, match=r"arguments of min\(\) mix"):
        _dim(sympy.Min(sympy.Symbol("x", real=True), mV), {"x": dim(s=1)})


def test_constant_value_is_the_si_number_and_its_dimension():
    assert constant_value(20 * unit_expr("ms")) == (pytest.approx(0.02), dim(s=1))
    assert constant_value(sympy.Integer(3)) == (3.0, DIMENSIONLESS)
    assert constant_value(sympy.Symbol("x", real=True)) is None


# ---- how dimensions are shown -------------------------------------------------------------

@pytest.mark.parametrize("d, shown", [
    (DIMENSIONLESS, "1 (dimensionless)"),
    (dim(s=1), "s"),
    (dim(s=-1), "Hz"),
    (VOLT, "V"),
    (dim(A=1), "A"),
    (dim(kg=1, m=2, s=-3, A=-2), "ohm"),
    (dim(kg=-1, m=-2, s=3, A=2), "S"),
    (dim(kg=-1, m=-2, s=4, A=2), "F"),
    (dim(A=1, s=1), "C"),
    (dim(mol=1, m=-3), "mol/m^3"),
    (dim(kg=1, m=2, s=-4, A=-1), "V/s"),
    (dim(A=1, s=-1), "A/s"),
    (dim(kg=-1, m=-2, s=2, A=2), "S/s"),
    (dim(m=1), "m"),
    (dim(m=2), "m^2"),
    (dim(m=-1), "1/m"),
    (dim(kg=1, m=1, s=-2), "m*kg/s^2"),
    (dim(m=1, s=-1, A=-1), "m/(s*A)"),
    (dim(kg=2, m=4, s=-8, A=-2), "m^4*kg^2/(s^8*A^2)"),
])
def test_format_dim(d, shown):
    assert format_dim(d) == shown


def test_unit_names_for_did_you_mean_hold_units_only():
    names = units.unit_names()
    assert {"mV", "ms", "nA", "Hz", "ohm", "Mohm"} <= set(names)
    assert all(units.is_unit(n) for n in names)
