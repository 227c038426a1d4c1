"""The kernels of a generated CuPy package, compiled for the CPU and launched through ctypes.

``ShimDevice`` offers what the generated driver needs of a device (``xp``, ``launch``,
``to_host``): ``xp`` is NumPy, and ``launch`` runs a kernel of the package's own
``kernels.cu``, compiled with g++ against ``cuda_shim.h``, one "thread" after the other.
Each launch is checked against the kernel's C signature: the number of arguments, the
element type and contiguity of every array, the exact type of every scalar (a mismatch
that CuPy would pass on silently, corrupting memory, fails here).

``serial=True`` runs every launch as one block of one thread: the kernels loop
grid-stride, so the result must not change, and the order of floating-point additions is
then the NumPy target's.
"""
from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SIGNATURE = re.compile(r'extern "C" __global__ void (\w+)\(\s*(.*?)\)\s*\{', re.S)
REAL = re.compile(r"typedef (double|float) real;")

_SCALARS = {"real": None, "int": np.int32, "long long": np.int64, "unsigned long long": np.uint64}
_CTYPES = {np.dtype(np.float64): ctypes.c_double, np.dtype(np.float32): ctypes.c_float,
           np.dtype(np.int32): ctypes.c_int, np.dtype(np.int64): ctypes.c_longlong,
           np.dtype(np.uint64): ctypes.c_ulonglong}


class Param:
    def __init__(self, decl: str, real):
        decl = " ".join(decl.split())
        self.decl = decl
        self.name = re.findall(r"\w+$", decl)[0]
        ctype = decl[: -len(self.name)].replace("const", "").replace("__restrict__", "").strip()
        self.pointer = ctype.endswith("*")
        base = ctype.rstrip("*").strip()
        if base not in _SCALARS:
            raise ValueError(f"kernel parameter of unexpected type: {decl}")
        self.dtype = np.dtype(real if base == "real" else _SCALARS[base])


def signatures(source: str) -> dict[str, list[Param]]:
    real = {"double": np.float64, "float": np.float32}[REAL.search(source).group(1)]
    return {name: [Param(p, real) for p in params.split(",")] for name, params in SIGNATURE.findall(source)}


def wrappers(source: str) -> str:
    """C++ launch wrappers, one per kernel: a loop over blocks and threads around the kernel."""
    out = ['#include "cuda_shim.h"', '#include "kernels.cu"', ""]
    for name, params in signatures(source).items():
        decls = ", ".join(p.decl for p in params)
        names = ", ".join(p.name for p in params)
        out += [f'extern "C" void shim_{name}(unsigned int gx, unsigned int bx, {decls})',
                "{",
                "    gridDim = {gx, 1, 1};",
                "    blockDim = {bx, 1, 1};",
                "    for (unsigned int snn_block = 0; snn_block < gx; ++snn_block)",  # names no kernel parameter has
                "        for (unsigned int snn_thread = 0; snn_thread < bx; ++snn_thread) {",
                "            blockIdx = {snn_block, 0, 0};",
                "            threadIdx = {snn_thread, 0, 0};",
                f"            {name}({names});",
                "        }",
                "}", ""]
    return "\n".join(out)


def compile_shim(kernels: Path, workdir: Path) -> Path:
    """kernels.cu and its launch wrappers as a shared library (cached by content in workdir)."""
    source = Path(kernels).read_text()
    key = hashlib.sha256((source + (HERE / "cuda_shim.h").read_text()).encode()).hexdigest()[:16]
    folder = Path(workdir) / f"shim-{key}"
    lib = folder / "kernels.so"
    if lib.exists():
        return lib
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernels.cu").write_text(source)
    (folder / "wrappers.cpp").write_text(wrappers(source))
    shutil.copy(HERE / "cuda_shim.h", folder / "cuda_shim.h")
    cmd = ["g++", "-std=c++14", "-O2", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC",
           "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
           "-o", str(lib), str(folder / "wrappers.cpp")]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=folder)
    if result.returncode:
        raise RuntimeError(f"g++ could not compile {kernels} through the shim:\n{result.stderr}")
    return lib


def compile_ptx(kernels: Path, out: Path, arch: str = "compute_90") -> subprocess.CompletedProcess:
    """nvcc --ptx for the given virtual architecture (no GPU needed)."""
    return subprocess.run(["nvcc", "--ptx", f"-arch={arch}", "-o", str(out), str(kernels)],
                          capture_output=True, text=True)


class ShimDevice:
    """A device for the generated driver that runs kernels.cu on the CPU."""

    xp = np

    def __init__(self, kernels: Path, workdir: Path, serial: bool = False):
        self.signatures = signatures(Path(kernels).read_text())
        self.lib = ctypes.CDLL(str(compile_shim(kernels, workdir)))
        self.serial = serial
        self.launches: Counter = Counter()
        self.functions = {}
        for name, params in self.signatures.items():
            fn = getattr(self.lib, f"shim_{name}")
            fn.argtypes = [ctypes.c_uint, ctypes.c_uint] + [
                ctypes.c_void_p if p.pointer else _CTYPES[p.dtype] for p in params]
            fn.restype = None
            self.functions[name] = fn

    def launch(self, name, grid, block, args):
        params = self.signatures[name]
        if len(args) != len(params):
            raise TypeError(f"{name}: {len(args)} arguments for {len(params)} parameters")
        values = []
        for p, a in zip(params, args):
            if p.pointer:
                if not isinstance(a, np.ndarray):
                    raise TypeError(f"{name}({p.decl}): an array is needed, not {type(a).__name__}")
                if a.dtype != p.dtype or not a.flags.c_contiguous:
                    raise TypeError(f"{name}({p.decl}): got a {'' if a.flags.c_contiguous else 'non-contiguous '}"
                                    f"{a.dtype} array")
                if "const" not in p.decl and not a.flags.writeable:
                    raise TypeError(f"{name}({p.decl}): a read-only array")
                values.append(a.ctypes.data)
            else:
                if not isinstance(a, np.generic) or a.dtype != p.dtype:
                    raise TypeError(f"{name}({p.decl}): got {a!r} ({type(a).__name__}), not a {p.dtype} scalar")
                values.append(a.item())
        (gx,), (bx,) = tuple(grid), tuple(block)
        if not (isinstance(gx, int) and isinstance(bx, int) and gx > 0 and bx > 0):
            raise TypeError(f"{name}: launch shape {grid}, {block}")
        if self.serial:
            gx = bx = 1
        self.launches[name] += 1
        self.functions[name](gx, bx, *values)

    def to_host(self, array):
        return np.array(array, copy=True)

    def synchronize(self):
        pass
