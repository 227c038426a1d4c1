"""Run a generated Lava package with parameters from an .npz and save its spikes (run by the
Lava interpreter).

    python run_with_params.py PACKAGE_DIR STEPS PARAMS.npz OUT.npz

PARAMS.npz holds one array per parameter key (a 0-d array for one number); OUT.npz gets
``spikes/<pop>/t`` and ``/i`` per spike monitor, or ``error`` with the message of a refusal.
"""
import importlib
import sys
from pathlib import Path

import numpy as np


def main():
    package_dir, steps, params_file, out = Path(sys.argv[1]).resolve(), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path.insert(0, str(package_dir.parent))
    pkg = importlib.import_module(package_dir.name)
    with np.load(params_file) as data:
        params = {k: (data[k] if data[k].ndim else float(data[k])) for k in data.files}
    try:
        result = pkg.simulate(steps=steps, params=params)
    except (ValueError, KeyError) as e:
        np.savez(out, error=np.array(str(e)))
        return
    data = {}
    for pop, (t, i) in result.spikes.items():
        data[f"spikes/{pop}/t"], data[f"spikes/{pop}/i"] = t, i
    np.savez(out, **data)


if __name__ == "__main__":  # Lava starts its processes by fork: guard the entry point
    main()
