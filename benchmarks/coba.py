"""COBA benchmark: conductance-based synapses, the exponential-Euler path of the NumPy target.

    python benchmarks/coba.py                                        # the generated simulator
    python benchmarks/coba.py --brian2-python /tmp/b2venv/bin/python # and Brian2's numpy and cython

The Vogels & Abbott (2005) COBA network as in Brette et al. (2007), benchmark 1: 4000 LIF
neurons (80 % excitatory), p = 0.02, conductances in units of the leak conductance
(we = 0.6, wi = 6.7), v(0) ~ U[Vr, Vt], ge(0) ~ N(4, 1.5), gi(0) ~ N(20, 12), dt = 0.1 ms,
1 s of model time. Brian2 integrates it with exponential Euler too; both draw their own
random network, so the check is the rate (about 19-20 Hz), not the spikes.
Times are the best over seeds 0-2 of the step loop alone (network built beforehand).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SPEC = """
neuron CobaLIF {
    parameters { taum = 20 ms; taue = 5 ms; taui = 10 ms; Vt = -50 mV; Vr = -60 mV
                 El = -60 mV; Ee = 0 mV; Ei = -80 mV; t_ref = 5 ms }
    state { v = Vr; ge = 0; gi = 0 }
    equations {
        dv/dt  = (ge * (Ee - v) + gi * (Ei - v) + (El - v)) / taum   unless refractory
        dge/dt = -ge / taue
        dgi/dt = -gi / taui
    }
    spike when v > Vt
    reset { v = Vr }
    refractory t_ref
}
network coba {
    population cells = CobaLIF(4000) { v = uniform(-60 mV, -50 mV); ge = normal(4, 1.5); gi = normal(20, 12) }
    connect cells[0:3200] -> cells    { p = 0.02; on_pre: ge_post += 0.6 }
    connect cells[3200:4000] -> cells { p = 0.02; on_pre: gi_post += 6.7 }
    monitor spikes of cells
}
simulate coba { dt = 0.1 ms; duration = 1 s; seed = 0 }
"""

BRIAN2 = """
import builtins, sys, time
from brian2 import *
prefs.codegen.target = sys.argv[1]
defaultclock.dt = 0.1 * ms
taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
Vt, Vr, El, Ee, Ei = -50 * mV, -60 * mV, -60 * mV, 0 * mV, -80 * mV
eqs = '''dv/dt = (ge * (Ee - v) + gi * (Ei - v) + (El - v)) / taum : volt (unless refractory)
dge/dt = -ge / taue : 1
dgi/dt = -gi / taui : 1'''
def network(seed):
    start_scope()
    seed_ = seed
    import numpy; numpy.random.seed(seed)
    P = NeuronGroup(4000, eqs, threshold='v > Vt', reset='v = Vr', refractory=5 * ms, method='exponential_euler')
    P.v = 'Vr + rand() * (Vt - Vr)'; P.ge = 'randn() * 1.5 + 4'; P.gi = 'randn() * 12 + 20'
    Ce = Synapses(P, P, on_pre='ge += 0.6'); Ce.connect('i < 3200', p=0.02)
    Ci = Synapses(P, P, on_pre='gi += 6.7'); Ci.connect('i >= 3200', p=0.02)
    s = SpikeMonitor(P)
    return Network(P, Ce, Ci, s), s
net, _ = network(0); net.run(1 * ms)  # code generation and compilation
best, rates = 1e9, []
for seed in range(3):
    net, s = network(seed)
    net.run(0 * ms)
    start = time.perf_counter(); net.run(1 * second)
    best = builtins.min(best, time.perf_counter() - start)
    rates.append(s.num_spikes / 4000)
print(f"{best:.3f} {builtins.sum(rates) / 3:.2f}")
"""


def generated() -> tuple[float, float]:
    sys.path.insert(0, str(ROOT))
    from snnlang.build import build
    from snnlang.run import _import

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "coba.snn"
        spec.write_text(SPEC)
        build(spec, Path(tmp) / "coba")
        module = _import(Path(tmp) / "coba", "coba_bench")
        best, rates = float("inf"), []
        for seed in range(3):
            net = module.Network(seed=seed)
            start = time.perf_counter()
            net.run(duration=1.0)
            best = min(best, time.perf_counter() - start)
            rates.append(len(net.spikes("cells")[0]) / 4000)
    return best, sum(rates) / len(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--brian2-python", help="an interpreter with brian2 and cython installed")
    args = parser.parse_args()
    print("COBA, 4000 neurons, 1 s of model time at dt = 0.1 ms, best of seeds 0-2 (step loop alone)")
    ours, rate = generated()
    print(f"  snnlang (NumPy target)  {ours:.3f} s   {rate:.1f} Hz")
    if args.brian2_python:
        for target in ("numpy", "cython"):
            out = subprocess.run([args.brian2_python, "-c", BRIAN2, target], capture_output=True, text=True)
            if out.returncode:
                print(f"  Brian2 {target}: failed\n{out.stderr[-2000:]}")
                continue
            seconds, b2_rate = map(float, out.stdout.split()[-2:])
            print(f"  Brian2 {target:<6}  {seconds:.3f} s   {b2_rate:.1f} Hz   snnlang is {seconds / ours:.2f}x faster")


if __name__ == "__main__":
    main()
