"""The generated fixed-point network against the same network of Lava's own LIF and Dense
(run by the Lava interpreter).

    python fixed_vs_lava.py PACKAGE_DIR INPUT STEPS OUT.npz

The package's network must be: a spike source INPUT feeding populations through
static connections, every population LIF-shaped, with a spike and a v monitor.
The reference takes the generated processes' initial Var values (registers,
weight mantissas, weight_exp) and builds lava.proc.lif.process.LIF, Dense and a
RingBuffer source from them; both run STEPS in Loihi2SimCfg(select_tag="fixed_pt").
Saves spikes (N x steps), v (steps x N) and the final u and v registers of both, per population
(``generated/<pop>/...`` and ``lava/<pop>/...``: spikes, v, u_final, v_final).
"""
import importlib
import sys
from pathlib import Path

import numpy as np


def main():
    package_dir, source, steps, out = Path(sys.argv[1]).resolve(), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, str(package_dir.parent))
    pkg = importlib.import_module(package_dir.name)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    data = {}
    # 1. the generated network
    graph = pkg.build_network(tag="fixed_pt")
    try:
        graph.run(steps)
        for pop, proc in graph.populations.items():  # Var.get(): before stop()
            q = pkg.FIXED_POINT[pop]
            data[f"generated/{pop}/u_final"] = getattr(proc, q.get("u_var", q["current"] or "u")).get()
            data[f"generated/{pop}/v_final"] = getattr(proc, q.get("v_var", q["voltage"])).get()
    finally:
        graph.stop()
    for pop in graph.populations:
        t, i = graph.spikes(pop)
        spikes = np.zeros((pkg.SIZES[pop], steps), dtype=bool)
        spikes[i, np.rint(t / pkg.DT).astype(int)] = True
        data[f"generated/{pop}/spikes"] = spikes
        data[f"generated/{pop}/v"] = graph.trace(pop, pkg.FIXED_POINT[pop]["voltage"], raw=True)[1]

    # 2. the same network from Lava's own processes, with the generated processes' values
    ref = pkg.build_network(tag="fixed_pt")  # not run: its Vars' initial values are the data
    src = ref.sources[source]
    steps_, index_ = src.proc_params["steps"], src.proc_params["index"]
    table = np.zeros((pkg.SIZES[source], steps), dtype=float)
    keep = steps_ < steps
    table[index_[keep], steps_[keep]] = 1
    lava_src = Source(data=table)
    neurons, sinks, monitors = {}, {}, {}
    for pop, proc in ref.populations.items():
        q = pkg.FIXED_POINT[pop]
        r = {name: getattr(proc, name).init for name in ("du", "dv", "vth", "bias_mant", "bias_exp")}
        voltage = getattr(proc, q.get("v_var", q["voltage"])).init
        current = getattr(proc, q.get("u_var", q["current"] or "u")).init
        neurons[pop] = LIF(shape=(pkg.SIZES[pop],), u=current, v=voltage, du=int(r["du"]), dv=int(r["dv"]),
                           vth=int(r["vth"]), bias_mant=r["bias_mant"], bias_exp=r["bias_exp"], name=f"lava_{pop}")
        sinks[pop] = Sink(shape=(pkg.SIZES[pop],), buffer=steps)
        neurons[pop].s_out.connect(sinks[pop].a_in)
        monitors[pop] = Monitor()
        monitors[pop].probe(neurons[pop].v, steps)
    for name, conn in ref.connections.items():
        q = pkg.FIXED_WEIGHTS[name]
        dense = Dense(weights=conn.weights.init, weight_exp=q["weight_exp"], num_weight_bits=8)
        pre, post = pkg.CONNECTIONS[name]
        (lava_src if pre == source else neurons[pre]).s_out.connect(dense.s_in)
        dense.a_out.connect(neurons[post].a_in)
    first = next(iter(neurons.values()))
    try:
        first.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        for pop in neurons:
            data[f"lava/{pop}/spikes"] = sinks[pop].data.get().astype(bool)
            data[f"lava/{pop}/v"] = monitors[pop].get_data()[neurons[pop].name]["v"]
            data[f"lava/{pop}/u_final"] = neurons[pop].u.get()
            data[f"lava/{pop}/v_final"] = neurons[pop].v.get()
    finally:
        first.stop()
    np.savez(out, **data)


if __name__ == "__main__":  # Lava starts its processes by fork: guard the entry point
    main()
