"""Run a generated Lava package and save what it recorded (run by the Lava interpreter).

    python run_package.py PACKAGE_DIR TAG STEPS OUT.npz

Saves per spike monitor ``spikes/<pop>/t`` and ``/i``, per state monitor ``trace/<pop>/<var>``
(raw registers in fixed point: ``raw/<pop>/<var>``), the final weights of plastic
connections ``weights/<name>``, and ``run_s``.
"""
import importlib
import sys
from pathlib import Path

import numpy as np


def main():
    package_dir, tag, steps, out = Path(sys.argv[1]).resolve(), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, str(package_dir.parent))
    pkg = importlib.import_module(package_dir.name)
    result = pkg.simulate(steps=steps, tag=tag, read_weights=bool(pkg.STDP))
    data = {"run_s": np.array(result.run_s), "build_s": np.array(result.build_s)}
    for pop, (t, i) in result.spikes.items():
        data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"] = t, i
    for key, (t, values) in result.traces.items():
        kind = "raw" if len(key) == 3 else "trace"
        data[f"{kind}/{key[0]}/{key[1]}"] = values
        data[f"{kind}/{key[0]}/{key[1]}/t"] = t
    for name, w in result.weights.items():
        data[f"weights/{name}"] = w
    np.savez(out, **data)


if __name__ == "__main__":  # Lava starts its processes by fork: guard the entry point
    main()
