"""Run a generated Lava package in fixed point and save its spikes and final registers (run by
the Lava interpreter).

    python fixed_registers.py PACKAGE_DIR STEPS OUT.npz

Saves per population ``<pop>/steps`` and ``<pop>/index`` (its spikes; the spec must monitor
them) and ``<pop>/u_final``, ``<pop>/v_final``: Loihi's u and v registers after STEPS steps.
"""
import importlib
import sys
from pathlib import Path

import numpy as np


def main():
    package_dir, steps, out = Path(sys.argv[1]).resolve(), int(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, str(package_dir.parent))
    pkg = importlib.import_module(package_dir.name)
    graph = pkg.build_network(tag="fixed_pt")
    data = {}
    try:
        graph.run(steps)
        for pop, proc in graph.populations.items():  # Var.get(): before stop()
            q = pkg.FIXED_POINT[pop]
            data[f"{pop}/u_final"] = getattr(proc, q["u_var"]).get()
            data[f"{pop}/v_final"] = getattr(proc, q["v_var"]).get()
    finally:
        graph.stop()
    for pop in graph.populations:
        t, i = graph.spikes(pop)
        data[f"{pop}/steps"], data[f"{pop}/index"] = np.rint(t / pkg.DT).astype(np.int64), i
    np.savez(out, **data)


if __name__ == "__main__":  # Lava starts its processes by fork: guard the entry point
    main()
