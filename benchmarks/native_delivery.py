"""Delivery on threads: a network whose step is mostly synaptic events, c package on 1 and 2 threads.

    python benchmarks/native_delivery.py [--repeat 3] [--steps 2000]

1000 Poisson inputs at 400 Hz onto 6000 LIF neurons through compressed rows, a weight matrix
and a gathered constant weight, with and without delays (about 450 000 synaptic events per
step): the deliveries, not the neurons, set the time. CUBA at in-degree 80 has 12 000 events per
step at N = 256k, under the c target's threshold for threads (PARALLEL_MIN), so it does not show
this. In one run: the NumPy package, the c package on 1 and 2 threads (best of --repeat), their
ratios, and whether the spikes are identical.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from native import package  # noqa: E402

SPEC = """
import "lif.snn"

network busy {
    input src = poisson(1000, rate = 400 Hz)
    population a = LIF(3000) { v = uniform(-65 mV, -52 mV) }
    population b = LIF(3000) { v = uniform(-65 mV, -52 mV) }
    connect src -> a { p = 0.15; w = uniform(0, 0.3); on_pre: I_syn_post += w * nA }
    connect src -> b { p = 0.6; w = uniform(0, 0.1); on_pre: I_syn_post += w * nA }
    connect src -> b { p = 0.12; on_pre: I_syn_post += 0.05 nA }
    connect src -> a { p = 0.15; delay = 1 ms; w = uniform(-0.2, 0.1); on_pre: I_syn_post += w * nA }
    connect a -> b { p = 0.3; delay = 2 ms; w = uniform(-0.5, 0.5); on_pre: v_post += w * mV }
    monitor spikes of a, b
}

simulate busy { dt = 0.1 ms; steps = 200; seed = 3 }
"""


def timed(module, steps: int, repeat: int, **kwargs):
    best = float("inf")
    for _ in range(repeat):
        net = module.Network(**kwargs)
        start = time.perf_counter()
        net.run(steps=steps)
        best = min(best, time.perf_counter() - start)
    return best, net


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "busy.snn"
        spec.write_text(SPEC)
        numpy_pkg, c_pkg = package(spec, Path(tmp) / "busy_np", "numpy"), package(spec, Path(tmp) / "busy_c", "c")
        t_np, ref = timed(numpy_pkg, args.steps, args.repeat)
        t1, one = timed(c_pkg, args.steps, args.repeat, threads=1)
        t2, two = timed(c_pkg, args.steps, args.repeat, threads=2)
    same = all(np.array_equal(x, y) and np.array_equal(x, z)
               for pop in ("a", "b") for x, y, z in zip(ref.spikes(pop), one.spikes(pop), two.spikes(pop)))
    print(f"{args.steps} steps, {one.synops / args.steps:,.0f} synaptic events per step, best of {args.repeat}")
    print(f"numpy {t_np:.3f} s   c 1 thread {t1:.3f} s   c 2 threads {t2:.3f} s   "
          f"numpy / c1 {t_np / t1:.2f}x   c1 / c2 {t1 / t2:.2f}x   spikes {'identical' if same else 'DIFFER'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
