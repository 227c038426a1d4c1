"""The random numbers of every target: a counter-based hash, defined once here.

A number is a function of (seed, stream, counter, index), never of the order in
which a target draws it: NumPy, CuPy and Lava print the same arithmetic from
these constants (docs/semantics.md, "Randomness"). The plan gives each use of
randomness its own stream.
"""
from __future__ import annotations

GOLDEN = 0x9E3779B97F4A7C15  # multiplies the seed and the index
STEP = 0xD1B54A32D192ED03  # multiplies the counter (the step, or a row)
MIX1 = 0xBF58476D1CE4E5B9  # SplitMix64's finaliser
MIX2 = 0x94D049BB133111EB
MASK = (1 << 64) - 1


def mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * MIX1) & MASK
    z = ((z ^ (z >> 27)) * MIX2) & MASK
    return z ^ (z >> 31)


def bits(seed: int, stream: int, counter: int, index: int) -> int:
    """The reference: 64 random bits, one number at a time (targets vectorise the same steps)."""
    key = mix((mix((seed * GOLDEN + stream) & MASK) + counter * STEP) & MASK)
    return mix((key + index * GOLDEN) & MASK)


def uniform(seed: int, stream: int, counter: int, index: int) -> float:
    """A uniform number in [0, 1) from the top 53 bits."""
    return (bits(seed, stream, counter, index) >> 11) * 2.0 ** -53


def constants() -> dict[str, str]:
    """The constants as hexadecimal literals, for templates."""
    return {"golden": f"0x{GOLDEN:016X}", "step": f"0x{STEP:016X}", "mix1": f"0x{MIX1:016X}", "mix2": f"0x{MIX2:016X}"}
