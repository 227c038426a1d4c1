"""Build the Lava packages of a conformance batch, then run the batch (run by snnlang's Python).

    python conformance_build.py JOBS.json LAVA_PYTHON

Each job names its spec (``spec``) and package folder (``package``); a package is built once
however many jobs run it. A build that fails writes the job's ``out`` at once, with
``build_error`` (the rendered diagnostics of a refusal, or the traceback), and the batch skips
that job. Then this process becomes Lava's interpreter running ``conformance_batch.py`` on the
same jobs. Building here rather than in the test session keeps the builds beside the tests,
on the other core, not before them.
"""
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as np

from snnlang.build import build
from snnlang.frontend.diagnostics import SpecError


def save(path, data):
    with open(path + ".part", "wb") as f:
        np.savez(f, **data)
    os.replace(path + ".part", path)


def main():
    jobs_file, lava_python = sys.argv[1], sys.argv[2]
    jobs = json.loads(Path(jobs_file).read_text())
    built = {}  # package folder -> None, or the build's error
    for job in jobs:
        package = job["package"]
        if package not in built:
            try:
                build(Path(job["spec"]), Path(package), "lava")
                built[package] = None
            except SpecError as e:
                built[package] = "SpecError: " + e.diagnostics.render()
            except Exception as e:  # noqa: BLE001 -- reported to the test
                built[package] = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
        if built[package] is not None:
            save(job["out"], {"build_error": np.array(built[package])})
        print(f"built {package}", flush=True)
    batch = str(Path(__file__).with_name("conformance_batch.py"))
    os.execv(lava_python, [lava_python, batch, jobs_file])


if __name__ == "__main__":
    main()
