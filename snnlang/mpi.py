"""``mpirun -n R snnlang run SPEC``: one network over R processes (MPI), from the command line.

The split itself is the generated package's (``parallel.py``, which the NumPy and c targets'
packages ship: every process builds the same ``Network``, which finds the launcher's processes
and holds its part; the c package runs its part in compiled calls between the exchanges); this
module holds what ``snnlang run`` does around it: refuse a target that does not split, let
only the first process write the run folder and speak, and end every process when one meets
an error the others cannot know of. mpi4py is imported only when a launcher started several
processes (the variables it sets: ``LAUNCHER_SIZES``).
"""
from __future__ import annotations

import os
import sys

#: What MPI launchers set in each process they start: the number of processes (MPICH and Intel
#: MPI's Hydra, Open MPI, MVAPICH, PMIx launchers). The generated parallel.py reads the same.
LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")

#: The targets whose packages split a network over processes (the same split: parallel.py).
SPLIT_TARGETS = ("numpy", "c")


def processes() -> int:
    """How many processes an MPI launcher started (1 when none did)."""
    for name in LAUNCHER_SIZES:
        value = os.environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def refuse_target(target: str) -> None:
    """Under a launcher with several processes, a target that does not split a network is
    refused (ValueError) before anything is built."""
    if processes() > 1 and target not in SPLIT_TARGETS:
        raise ValueError(f"--target {target} runs a network in one process; under mpirun ({processes()} processes) "
                         f"use --target {' or '.join(SPLIT_TARGETS)}, or run without mpirun")


def other_process(net) -> bool:
    """A process of a split network other than the first: it writes nothing and stays quiet."""
    part = getattr(net, "part", None)
    return part is not None and part.rank != 0


def quiet_summary(net) -> dict:
    """What run() returns on a process other than the first (the first writes the run folder)."""
    return {"process": net.part.rank, "processes": net.part.ranks}


def abort_all(net, message: str) -> None:
    """A split network whose process met an error the others cannot know of (a NaN found on
    its neurons): print it and end every process (MPI_Abort), which would otherwise wait for
    this one at the next exchange. Does nothing in a single process."""
    part = getattr(net, "part", None)
    if part is None or not part.mpi:
        return
    print(f"snnlang run: process {part.rank} of {part.ranks}: {message}", file=sys.stderr, flush=True)
    part.comm.Abort(1)
