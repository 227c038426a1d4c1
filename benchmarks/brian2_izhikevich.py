"""Izhikevich's (2003) 1000-neuron network on Brian2's cpp_standalone device, the model of
specs/izhikevich_network.snn written for Brian2, timed by Brian2's own loop timer.

The same network: 800 excitatory neurons (c = -65 + 15 r^2 mV, d = 8 - 6 r^2 mV/ms), 200
inhibitory (a = 0.02 + 0.08 r /ms, b = 0.25 - 0.05 r /ms, d = 2 mV/ms), all-to-all synapses
(w uniform in [0, 0.5] mV/ms from excitatory, [-1, 0] from inhibitory cells, added to I),
thalamic input drawn anew each step (5 or 2 mV/ms times a standard normal number), the
paper's scheme at dt = 1 ms (v in two half steps, then u), spike at v >= 30 mV, reset v = c, u += d. Brian2 draws its own random
numbers, so the spikes are not snnlang's; the rates are printed to show the same regime.

    /tmp/b2venv/bin/python benchmarks/brian2_izhikevich.py [--threads 1] [--duration 1]

prints one JSON line: run_s (the compiled loop, Brian2's ``device._last_run_time``), build_s
(code generation, compile and run of the binary), the rates of both populations.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time


def standalone(duration: float = 1.0, threads: int = 1, seed: int = 0) -> dict:
    import brian2 as b2
    from brian2 import ms, mV, second

    directory = tempfile.mkdtemp(prefix="b2izh-")
    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    b2.seed(seed)
    b2.defaultclock.dt = 1 * ms
    # As specs/izhikevich_network.snn (the paper's program): in each step of 1 ms v advances in two
    # half steps of 0.5 ms, then u one Euler step from the new v, with the step's thalamic input.
    # snnlang's `I_post += w * mV/ms` adds to that step's input: a jump of v by w * dt (on_pre below).
    eqs = """
    v : volt
    u : volt/second
    a : 1/second
    b : 1/second
    c : volt
    d : volt/second
    sigma : volt/second
    """
    G = b2.NeuronGroup(1000, eqs, threshold="v >= 30*mV", reset="v = c; u += d")
    G.run_regularly("""
    I_thal = sigma * randn()
    v += 0.5 * dt * (0.04/ms/mV * v**2 + 5/ms * v + 140*mV/ms - u + I_thal)
    v += 0.5 * dt * (0.04/ms/mV * v**2 + 5/ms * v + 140*mV/ms - u + I_thal)
    u += dt * a * (b * v - u)
    """, when="groups")
    exc, inh = G[:800], G[800:]
    G.v = -65 * mV
    G.a = 0.02 / ms
    G.b = 0.2 / ms
    exc.c = "-65*mV + 15*mV * rand()**2"
    exc.d = "8*mV/ms - 6*mV/ms * rand()**2"
    exc.sigma = 5 * mV / ms
    inh.a = "0.02/ms + 0.08/ms * rand()"
    inh.b = "0.25/ms - 0.05/ms * rand()"
    inh.c = -65 * mV
    inh.d = 2 * mV / ms
    inh.sigma = 2 * mV / ms
    G.u = "b * v"
    S_e = b2.Synapses(exc, G, "w : volt/second", on_pre="v_post += w * dt")
    S_e.connect()
    S_e.w = "0.5 * rand() * mV/ms"
    S_i = b2.Synapses(inh, G, "w : volt/second", on_pre="v_post += w * dt")
    S_i.connect()
    S_i.w = "-rand() * mV/ms"
    spikes = b2.SpikeMonitor(G)
    net = b2.Network(G, S_e, S_i, spikes)
    net.run(duration * second)
    t0 = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=True, debug=False)
    build_s = time.perf_counter() - t0
    idx = spikes.i[:]
    return {"target": "cpp_standalone", "threads": threads, "duration": duration,
            "run_s": float(b2.device._last_run_time), "build_s": build_s,
            "exc_hz": float((idx < 800).sum() / 800 / duration), "inh_hz": float((idx >= 800).sum() / 200 / duration),
            "n_synapses": int(len(S_e) + len(S_i))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--duration", type=float, default=1.0)
    args = ap.parse_args(argv)
    print(json.dumps(standalone(args.duration, args.threads)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
