"""The STDP network of benchmarks/native_stdp.py on Brian2's cpp_standalone device.

    python benchmarks/brian2_stdp.py [--static] [--threads 1] [--seconds 1]

1000 Poisson inputs at 10 Hz onto 100 conductance-based LIF neurons, all-to-all: pair STDP
with traces updated at events (Brian2's ``(event-driven)`` traces, as snnlang decays them on
read) or, with --static, a fixed weight per synapse; dt = 0.1 ms. The same equations, weights
and rule as the spec of native_stdp.py (not the same random numbers). Prints one JSON line:
``run_s`` is Brian2's own timer of the compiled loop (``device._last_run_time``: network
construction and compilation excluded), ``build_s`` the code generation, compile and run of
the binary. One device per process: run each configuration in a fresh interpreter.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time

W_MAX = 0.012  # the weights start uniform in [0, W_MAX] (the neurons fire at ~20 Hz)


def simulate(plastic: bool, threads: int = 1, seconds: float = 1.0, seed: int = 1) -> dict:
    import brian2 as b2
    from brian2 import Hz, ms, mV, second

    b2.prefs.logging.console_log_level = "ERROR"
    logging.getLogger("brian2").setLevel(logging.ERROR)
    directory = tempfile.mkdtemp(prefix="b2stdp-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    b2.seed(seed)
    b2.defaultclock.dt = 0.1 * ms
    ns = dict(tau_m=20 * ms, E_l=-70 * mV, E_ex=0 * mV, v_th=-54 * mV, v_reset=-60 * mV, tau_ex=5 * ms,
              tau_plus=20 * ms, tau_minus=20 * ms, A_plus=0.005 * W_MAX, A_minus=0.00525 * W_MAX, w_max=W_MAX)
    cells = b2.NeuronGroup(100, """
        dv/dt = (E_l - v + g_ex * (E_ex - v)) / tau_m : volt
        dg_ex/dt = -g_ex / tau_ex : 1
        """, threshold="v >= v_th", reset="v = v_reset", method="exponential_euler", namespace=ns)
    cells.v = "-60*mV + rand() * 6*mV"
    inputs = b2.PoissonGroup(1000, rates=10 * Hz)
    if plastic:
        syn = b2.Synapses(inputs, cells, """
            w : 1
            dx/dt = -x / tau_plus : 1 (event-driven)
            dy/dt = -y / tau_minus : 1 (event-driven)
            """, on_pre="""
            x += 1
            w = clip(w - A_minus * y, 0, w_max)
            g_ex_post += w
            """, on_post="""
            y += 1
            w = clip(w + A_plus * x, 0, w_max)
            """, namespace=ns)
    else:
        syn = b2.Synapses(inputs, cells, "w : 1", on_pre="g_ex_post += w", namespace=ns)
    syn.connect()  # all to all
    syn.w = f"rand() * {W_MAX}"
    spikes = b2.SpikeMonitor(cells)
    net = b2.Network(cells, inputs, syn, spikes)
    net.run(seconds * second, namespace=ns)
    start = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=True, debug=False)
    build_s = time.perf_counter() - start
    return {"simulator": "brian2 cpp_standalone", "brian2": b2.__version__, "plastic": plastic, "threads": threads,
            "seconds": seconds, "run_s": float(b2.device._last_run_time), "build_s": build_s,
            "spikes": int(len(spikes.i[:])), "synapses": int(len(syn))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--static", action="store_true", help="fixed weights (no STDP)")
    ap.add_argument("--threads", type=int, default=1, help="OpenMP threads of the binary")
    ap.add_argument("--seconds", type=float, default=1.0, help="simulated time")
    args = ap.parse_args(argv)
    print(json.dumps(simulate(not args.static, args.threads, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
