"""CUBA benchmark: the generated NumPy simulator against the hand-written reference.

    python benchmarks/cuba.py                 # N = 4000, 1 s, dt = 0.1 ms: wall/CPU times and ratios
    python benchmarks/cuba.py --scaling       # N = 1k, 4k, 16k, 64k at in-degree ~80: time and peak memory
    python benchmarks/cuba.py --brian2        # adds Brian2's numpy and cython targets (pip install '.[bench]')

Both implementations simulate the same model (Brian2's CUBA example) with the same
step order; the generated one is built from a spec text below, the reference is
benchmarks/cuba_reference.py. Times are best of --repeat runs of the time-step loop
(wall and process CPU time; CPU time is steadier on a busy machine).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SPEC = """
neuron CubaLIF {{
    parameters {{ tau_m = 20 ms; tau_e = 5 ms; tau_i = 10 ms; V_t = -50 mV; V_r = -60 mV; E_l = -49 mV; t_ref = 5 ms }}
    state {{ v = V_r; ge = 0 mV; gi = 0 mV }}
    equations {{
        dv/dt  = (ge + gi - (v - E_l)) / tau_m   unless refractory
        dge/dt = -ge / tau_e
        dgi/dt = -gi / tau_i
    }}
    spike when v > V_t
    reset {{ v = V_r }}
    refractory t_ref
}}
network cuba {{
    population cells = CubaLIF({n}) {{ v = uniform(-60 mV, -50 mV) }}
    connect cells[0:{ne}] -> cells {{ {conn_e}; on_pre: ge_post += 1.62 mV }}
    connect cells[{ne}:{n}] -> cells {{ {conn_i}; on_pre: gi_post += -9 mV }}
    monitor spikes of cells
}}
simulate cuba {{ dt = 0.1 ms; duration = 1 s; seed = 1 }}
"""


def spec_text(n: int, scaling: bool) -> str:
    ne = int(round(0.8 * n))
    if scaling:  # constant in-degree ~80, as the reference's p = 80/N
        conn_e, conn_i = f"p = {80 / n!r}", f"p = {80 / n!r}"
    else:
        conn_e = conn_i = "p = 0.02"
    return SPEC.format(n=n, ne=ne, conn_e=conn_e, conn_i=conn_i)


def build(n: int, scaling: bool, folder: Path) -> tuple[object, float]:
    sys.path.insert(0, str(ROOT))
    from snnlang.build import build as snn_build

    spec = folder / f"cuba_{n}.snn"
    spec.write_text(spec_text(n, scaling))
    out = folder / f"cuba_{n}"
    start = time.perf_counter()
    snn_build(spec, out)
    build_s = time.perf_counter() - start
    module_spec = importlib.util.spec_from_file_location(f"cuba_{n}", out / "__init__.py",
                                                         submodule_search_locations=[str(out)])
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module, build_s


def drawn_network(module) -> dict:
    """The synapses (both connections, as whole-population indices) and initial v the
    generated package draws for seed 1: the reference simulates this very network."""
    state = module.Network(seed=1).state
    connections = sorted(k[:-4] for k in state if k.endswith("_pre") and k[:-4] + "_post" in state)
    return {"pre": np.concatenate([state[c + "_pre"] for c in connections]),
            "post": np.concatenate([state[c + "_post"] for c in connections]),
            "v0": state["cells_v"].copy()}


def time_generated(module, repeat: int) -> dict:
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        net = module.Network(seed=1)
        wall, cpu = time.perf_counter(), time.process_time()
        net.run(duration=1.0)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    t, i = net.spikes("cells")
    return {"wall": best_wall, "cpu": best_cpu, "spikes": (np.rint(t / 1e-4).astype(np.int64), i)}


def time_reference(n: int, network: dict, repeat: int) -> dict:
    sys.path.insert(0, str(HERE))
    import cuba_reference

    runs = [cuba_reference.run(N=n, seed=1, network=network) for _ in range(repeat)]
    r = runs[0]
    return {"wall": min(r["loop_s"] for r in runs), "cpu": min(r["loop_cpu_s"] for r in runs),
            "spikes": (np.rint(r["spike_t"] / 1e-4).astype(np.int64), r["spike_i"])}


def one(n: int, scaling: bool, repeat: int) -> dict:
    peak = {}
    with tempfile.TemporaryDirectory() as tmp:
        module, build_s = build(n, scaling, Path(tmp))
        gen = time_generated(module, repeat)
        network = drawn_network(module)
        if scaling:
            peak = {"generated": peak_memory(n, Path(module.__path__[0])), "reference": peak_memory(n)}
    ref = time_reference(n, network, repeat)
    (gs, gi), (rs, ri) = gen.pop("spikes"), ref.pop("spikes")
    same = gs.size == rs.size and bool(np.array_equal(gs, rs) and np.array_equal(gi, ri))
    ne = int(round(0.8 * n))
    rate = float(np.count_nonzero(gi < ne)) / ne
    return {"n": n, "build_s": build_s, "generated": gen, "reference": ref, "same_spikes": same,
            "spikes": int(gi.size), "rate_exc": rate, "synapses": int(network["pre"].size), "peak_mib": peak}


def peak_memory(n: int, package: Path | None = None) -> float:
    """Peak resident memory (MiB) of a fresh process that imports the built ``package`` (or the
    reference) and runs 1 s of CUBA at size n: NumPy and the simulator only, not snnlang."""
    if package is not None:
        run = (f"sys.path.insert(0, {str(package.parent)!r})\n"
               f"import {package.name}\n{package.name}.Network(seed=1).run(duration=1.0)\n")
    else:
        run = f"sys.path.insert(0, {str(HERE)!r})\nimport cuba_reference\ncuba_reference.run(N={n}, seed=1, p={80 / n!r})\n"
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec
    code = ("import sys\n" + run
            + "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def whole_process(repeat: int) -> dict:
    """Wall time of a fresh `snnlang run --no-plots specs/cuba.snn`: with an empty cache (check,
    plan, generate, run) and with the package cached (import and run), best of ``repeat``."""
    times = {"cold": [], "warm": []}
    # As after `pip install`, which compiles the bytecode of snnlang's modules: a sandbox that
    # sets PYTHONDONTWRITEBYTECODE would have every run compile them (and the cached package) again.
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(-1, repeat):  # k = -1: an untimed first run writes snnlang's bytecode
            for kind in ("cold", "warm"):
                env = dict(base, SNNLANG_CACHE=str(Path(tmp) / f"cache{k}"))
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "snnlang", "run", str(ROOT / "specs" / "cuba.snn"),
                                "-o", str(Path(tmp) / "run"), "--no-plots"], check=True, env=env,
                               capture_output=True, cwd=ROOT)
                if k >= 0:
                    times[kind].append(time.perf_counter() - start)
    return {kind: min(values) for kind, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--brian2", action="store_true")
    parser.add_argument("--brian2-python", default=sys.executable,
                        help="an interpreter with brian2 installed (pip install '.[bench]' in a venv)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="time the whole `snnlang run` process")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = []
    sizes = [1000, 4000, 16000, 64000] if args.scaling else [4000]
    print(f"CUBA, 1 s of model time at dt = 0.1 ms, best of {args.repeat}")
    print("Both simulate the same network (the synapses and initial v the generated package drew).")
    print(f"{'N':>6} {'synapses':>9} {'build s':>8} {'generated s':>12} {'reference s':>12} {'ratio wall':>10} "
          f"{'ratio cpu':>9} {'exc Hz':>7} {'same spikes':>11}" + ("  peak MiB gen/ref" if args.scaling else ""))
    for n in sizes:
        r = one(n, args.scaling, args.repeat)
        g, ref = r["generated"], r["reference"]
        line = (f"{n:>6} {r['synapses']:>9} {r['build_s']:>8.2f} "
                f"{g['wall']:>12.3f} {ref['wall']:>12.3f} {g['wall'] / ref['wall']:>10.2f} {g['cpu'] / ref['cpu']:>9.2f} "
                f"{r['rate_exc']:>7.2f} {'yes' if r['same_spikes'] else 'NO':>11}")
        if args.scaling:
            line += f"  {r['peak_mib']['generated']:.0f}/{r['peak_mib']['reference']:.0f}"
        print(line, flush=True)
        results.append(r)
    if args.whole:
        w = whole_process(args.repeat)
        print(f"whole process, snnlang run --no-plots specs/cuba.snn: {w['cold']:.2f} s with an empty cache, "
              f"{w['warm']:.2f} s with the package cached")
    if args.brian2:
        out = subprocess.run([args.brian2_python, str(HERE / "brian2_cuba.py"), "--no-cold"],
                             capture_output=True, text=True)
        print(out.stdout + out.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
