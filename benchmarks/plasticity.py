"""What plasticity costs in the generated NumPy simulator.

The same network is built twice, once with static synapses and once with pair STDP
(the standard library's ``STDP``, all-to-all, traces updated only at events), and both
are run for the same simulated time with the same seed. Reported: wall and CPU time
per simulated second (best of --repeat runs; CPU time is the fairer figure on a shared
machine), and the ratio plastic / static.

Networks:
  song   1000 Poisson inputs at 10 Hz onto one conductance-based LIF neuron (Song, Miller &
         Abbott 2000): the issue's 1000-input STDP network.
  layer  1000 Poisson inputs at 10 Hz onto 100 LIF neurons, p = 0.1 (~100 000 synapses).

    python benchmarks/plasticity.py                  # both, 2 s of model time, dt = 0.1 ms
    python benchmarks/plasticity.py --profile song   # + the cost of each generated line (line_profiler)
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

NEURON = """
neuron SongLIF {
    parameters { tau_m = 20 ms; E_l = -70 mV; E_ex = 0 mV; E_in = -70 mV; v_th = -54 mV; v_reset = -60 mV; tau_ex = 5 ms; tau_in = 5 ms }
    state { v = uniform(-60 mV, -54 mV); g_ex = 0; g_in = 0 }
    equations {
        dv/dt = (E_l - v + g_ex * (E_ex - v) + g_in * (E_in - v)) / tau_m
        dg_ex/dt = -g_ex / tau_ex
        dg_in/dt = -g_in / tau_in
    }
    spike when v >= v_th
    reset { v = v_reset }
}
"""

NETWORKS = {  # (neurons, pattern, w_max): initial weights uniform in [0, w_max] make the neurons fire at ~65 and ~25 Hz
    "song": ("1", "", "0.02"),
    "layer": ("100", "p = 0.1; ", "0.12"),
}


def spec(kind: str, plastic: bool, dt_ms: float, seconds: float) -> str:
    n, pattern, w_max = NETWORKS[kind]
    rule = (f'using STDP {{ {pattern}w = uniform(0, {w_max}); w_max = {w_max}; A_plus = {0.005 * float(w_max)}; '
            f'A_minus = {0.00525 * float(w_max)}; on_pre: g_ex_post += w }}') if plastic else \
           f'using Static {{ {pattern}w = uniform(0, {w_max}); on_pre: g_ex_post += w }}'
    return f"""
import "stdp.snn"
import "static.snn"
{NEURON}
network bench {{
    input exc = poisson(1000, rate = 10 Hz)
    input inh = poisson(200, rate = 10 Hz)
    population cells = SongLIF({n})
    connect exc -> cells {rule}
    connect inh -> cells using Static {{ {pattern}w = 0.05; on_pre: g_in_post += w }}
    monitor spikes of cells
}}
simulate bench {{ dt = {dt_ms} ms; duration = {seconds} s; seed = 1 }}
"""


def build(text: str, folder: Path, name: str):
    from snnlang.build import build as build_spec

    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.snn").write_text(text)
    build_spec(folder / f"{name}.snn", folder / name)
    module_spec = importlib.util.spec_from_file_location(name, folder / name / "__init__.py",
                                                         submodule_search_locations=[str(folder / name)])
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def measure(package, repeat: int) -> dict:
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        net = package.Network()
        wall, cpu = time.perf_counter(), time.process_time()
        net.run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    seconds = package.STEPS * package.DT
    return {"wall_per_s": best_wall / seconds, "cpu_per_s": best_cpu / seconds,
            "spikes": int(len(net.spikes("cells")[0])), "synops": int(net.synops)}


def profile(package) -> None:
    from line_profiler import LineProfiler

    net = package.Network()
    lp = LineProfiler()
    lp.add_function(package.network.Network._advance)
    lp.runcall(net.run)
    lp.print_stats(output_unit=1e-6, stripzeros=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="simulated time per run")
    parser.add_argument("--dt", type=float, default=0.1, help="time step in ms")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--networks", default="song,layer")
    parser.add_argument("--profile", choices=list(NETWORKS), help="line-by-line cost of the generated step loop")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.networks.split(","):
            static = build(spec(kind, False, args.dt, args.seconds), Path(tmp), f"{kind}_static")
            plastic = build(spec(kind, True, args.dt, args.seconds), Path(tmp), f"{kind}_stdp")
            s, p = measure(static, args.repeat), measure(plastic, args.repeat)
            results[kind] = {"static": s, "stdp": p, "ratio_wall": p["wall_per_s"] / s["wall_per_s"],
                             "ratio_cpu": p["cpu_per_s"] / s["cpu_per_s"]}
            print(f"{kind:6s} static {s['wall_per_s']:.3f} s wall / {s['cpu_per_s']:.3f} s CPU per simulated second "
                  f"({s['spikes']} output spikes); STDP {p['wall_per_s']:.3f} / {p['cpu_per_s']:.3f} "
                  f"({p['spikes']} spikes): STDP costs x{results[kind]['ratio_cpu']:.2f} CPU, "
                  f"x{results[kind]['ratio_wall']:.2f} wall", flush=True)
            if args.profile == kind:
                print(f"\n---- {kind}, static ----")
                profile(static)
                print(f"\n---- {kind}, STDP ----")
                profile(plastic)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
