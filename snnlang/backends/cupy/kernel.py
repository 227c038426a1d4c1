"""Kernels as data: their parameters, body, launch shape, and the device arrays they read."""
from __future__ import annotations

from dataclasses import dataclass

from ..lines import Lines

#: C type and NumPy dtype of each kind of device array ("real" is double or float).
CTYPES = {"real": "real", "int": "int", "long": "long long", "u64": "unsigned long long"}
DTYPES = {"int": "np.int32", "long": "np.int64", "u64": "np.uint64"}



class EmitError(ValueError):
    """A plan feature the CuPy target cannot express (raised at build time, with the reason)."""


@dataclass
class Arg:
    """One kernel parameter: its C declaration and the host expression that passes it."""

    ctype: str  # "const real", "real* __restrict__", ...
    name: str  # the C name
    host: str  # the Python expression of the host driver
    per_step: bool = False  # changes every launch (passed first)

    @property
    def decl(self) -> str:
        return f"{self.ctype} {self.name}"


@dataclass
class Kernel:
    name: str
    doc: str
    args: list[Arg]
    body: Lines
    grid: str  # Python expressions of the launch shape
    block: str
    args_name: str = ""  # the host's tuple of the arguments a run keeps (named by the symbol table)

    def __post_init__(self):  # what changes at every launch first, then what a run keeps
        self.args = [a for a in self.args if a.per_step] + [a for a in self.args if not a.per_step]

    def source(self) -> str:
        params = ",\n".join("    " + a.decl for a in self.args)
        doc = "\n".join(f"// {line}" for line in self.doc.splitlines())
        return f'{doc}\nextern "C" __global__ void {self.name}(\n{params})\n{{\n{self.body.text(1)}\n}}\n'

    def static(self) -> str:
        """The Python tuple of the arguments that stay the same for a whole run."""
        hosts = [a.host for a in self.args if not a.per_step]
        return "(" + "".join(h + ", " for h in hosts) + ")"

    def call(self, **step_values: str) -> str:
        """The launch statement; per-step arguments come from ``step_values`` by C name (or their host text)."""
        per_step = [step_values.get(a.name, a.host) for a in self.args if a.per_step]
        first = "(" + "".join(v + ", " for v in per_step) + ")"
        return f"launch({self.name!r}, {self.grid}, {self.block}, {first} + {self.args_name})"


def names_in(*exprs) -> set[str]:
    out: set[str] = set()
    for e in exprs:
        if e is not None:
            out |= {s.name for s in e.free_symbols}
    return out


@dataclass
class Array:
    """A device array: where the driver keeps it and its element type."""

    name: str
    kind: str  # real | int | long | u64
    store: str = "s"  # s: state (saved); b: buffers (rebuilt)

    @property
    def ctype(self) -> str:
        return CTYPES[self.kind]
