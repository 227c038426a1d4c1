"""Why C and not Numba for the native target: the c package against a hand-written Numba loop.

    python benchmarks/numba_cuba.py                       # N = 4k and 64k; 1 s of CUBA at in-degree 80
    python benchmarks/numba_cuba.py --sizes 4000 --repeat 5

In one run, for each size: the c package (``Network(seed=1, threads=1).run(1 s)``, 10000 steps
at dt = 0.1 ms, best of --repeat as in benchmarks/native.py) and one Numba ``@njit`` function
that runs all 10000 steps of the same network (its state and CSR synapses taken from the c
package's ``Network.state``, its propagator constants from the package's own native call) in the
same order as step.c, in float64: deliver last step's spikes (ge, then gi, rows in spike order),
integrate with the exact propagators, threshold, reset, refractoriness. The Numba time is best
of --repeat calls on fresh copies of the state; its compile time (the first call, 1 step) is
reported apart (once: a later size reuses the compiled function, "-") and not in the loop time.
"spikes" says whether Numba's spikes equal the package's (count, and then the arrays of steps
and neurons). Building the network is not timed.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cuba import spec_text  # noqa: E402  (benchmarks/cuba.py: the CUBA spec at a given size)
from native import best_run, load, package  # noqa: E402  (benchmarks/native.py: build + compile, timing)

W_E, W_I = 1.62e-3, -9e-3  # the spec's on_pre increments of ge and gi (V); step.c inlines them as literals


def package_constants(module) -> dict:
    """The reals and integers the package passes to its snnrun() (propagators, V_t, V_r,
    ref_steps, ...), by name: caught from one step of a throwaway network, named as step.c
    names x[i] and k[i]."""
    native = sys.modules[module.__name__ + ".native"]
    caught = {}

    def spy(arrays, reals, ints, *rest, **kw):
        if not caught:  # the first call's
            caught.update(x=reals.copy(), k=ints.copy())
        return original(arrays, reals, ints, *rest, **kw)

    original, native.run = native.run, spy
    try:
        module.Network(seed=1, threads=1).run(steps=1)
    finally:
        native.run = original
    source = (Path(module.__file__).parent / "step.c").read_text().split("#ifdef SNNLANG_SPLIT")[0]
    names = {m[0]: caught["x"][int(m[1])] for m in re.findall(r"const real (\w+) = x\[(\d+)\];", source)}
    ints = re.findall(r"const long long (\w+) = k\[(\d+)\];", source)
    names.update({m[0]: int(caught["k"][int(m[1])]) for m in ints})
    return names


@njit(cache=False)
def cuba_loop(v, ge, gi, until, ptr_e, post_e, ptr_i, post_i, P_v_1, P_v_ge, P_v_gi, P_v_v, P_ge_ge, P_gi_gi,
              V_t, V_r, ref_steps, steps):
    """All ``steps`` steps in one call, as step.c's snnrun(); returns (spike counts per step, neurons)."""
    n = v.size
    spk = np.empty(n, np.int64)  # the spikes of the last step
    count = 0
    counts = np.zeros(steps, np.int64)
    record = np.empty(max(1024, 64 * n), np.int64)  # the monitor's buffer, doubled when full
    fill = 0
    for step in range(steps):
        # deliver: last step's spikes, ge then gi, each row in CSR order
        for m in range(count):
            pre = spk[m]
            for syn in range(ptr_e[pre], ptr_e[pre + 1]):
                ge[post_e[syn]] += W_E
        for m in range(count):
            pre = spk[m]
            for syn in range(ptr_i[pre], ptr_i[pre + 1]):
                gi[post_i[syn]] += W_I
        # integrate (v held while refractory), threshold, reset, refractoriness
        count = 0
        for i in range(n):
            free = until[i] < step
            v_new = P_v_1 + P_v_ge * ge[i] + P_v_gi * gi[i] + P_v_v * v[i]
            ge[i] = P_ge_ge * ge[i]
            gi[i] = P_gi_gi * gi[i]
            vi = v_new if free else v[i]
            if free and vi > V_t:
                vi = V_r
                until[i] = step + ref_steps
                spk[count] = i
                count += 1
            v[i] = vi
        # record
        if fill + count > record.size:
            bigger = np.empty(2 * record.size, np.int64)
            bigger[:fill] = record[:fill]
            record = bigger
        record[fill:fill + count] = spk[:count]
        fill += count
        counts[step] = count
    return counts, record[:fill]


def numba_run(state: dict, c: dict, steps: int):
    """One call of cuba_loop on copies of the network's state: (seconds, counts, neurons)."""
    s = {k: state[k].copy() for k in ("cells_v", "cells_ge", "cells_gi", "cells_refractory_until")}
    args = (s["cells_v"], s["cells_ge"], s["cells_gi"], s["cells_refractory_until"],
            state["cells_cells_group_ptr"][0], state["cells_cells_post"],
            state["cells_cells_2_group_ptr"][0], state["cells_cells_2_post"],
            *(c["cells_" + k] for k in ("P_v_1", "P_v_ge", "P_v_gi", "P_v_v", "P_ge_ge", "P_gi_gi", "V_t", "V_r")),
            c["cells_ref_steps"], steps)
    start = time.perf_counter()
    counts, neurons = cuba_loop(*args)
    return time.perf_counter() - start, counts, neurons


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 64000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    began = time.perf_counter()
    print(f"CUBA, 1 s of model time (dt = 0.1 ms), in-degree ~80; best of {args.repeat}; cores: {os.cpu_count()}; "
          f"load average {load()}")
    print(f"{'N':>7} {'c 1t':>8} {'numba':>8} {'nb/c':>6} {'compile':>8}  spikes (load)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in args.sizes:
            spec = folder / f"cuba_{n}.snn"
            spec.write_text(spec_text(n, scaling=True))
            c_pkg = package(spec, folder / f"c_{n}", "c")
            consts = package_constants(c_pkg)
            net = c_pkg.Network(seed=1, threads=1)
            assert net.state["cells_cells_group_ptr"].shape[0] == 1  # one delay group (one step): one CSR row set
            steps = int(round(1.0 / net.dt))
            t_c, (times, index), _ = best_run(c_pkg, args.repeat, threads=1)
            compiled = len(cuba_loop.signatures)
            compile_s, _, _ = numba_run(net.state, consts, 1)  # the first call compiles (1 step)
            compile_cell = f"{compile_s:8.2f}" if len(cuba_loop.signatures) > compiled else f"{'-':>8}"
            runs = [numba_run(net.state, consts, steps) for _ in range(args.repeat)]
            t_nb, counts, neurons = min(runs, key=lambda r: r[0])
            nb_times = np.repeat(np.arange(steps), counts) * net.dt
            if len(neurons) != len(index):
                same = f"DIFFER: count {len(neurons)} vs c {len(index)}"
            elif np.array_equal(nb_times, times) and np.array_equal(neurons, index):
                same = f"{len(index)} identical"
            else:
                same = f"{len(index)} both, arrays DIFFER"
            print(f"{n:>7} {t_c:8.3f} {t_nb:8.3f} {t_nb / t_c:6.2f} {compile_cell}  {same} ({load()})", flush=True)
    print(f"({time.perf_counter() - began:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
