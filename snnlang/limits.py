"""The memory limit a run may need (the estimate is :mod:`snnlang.plan.memory`'s).

Three quarters of the machine's memory (its cgroup's limit where that is lower), or 16 GiB
where neither can be read; ``--max-memory 64GiB`` (build, run, train) or the environment
variable ``SNNLANG_MAX_MEMORY`` sets another. This module loads nothing of the compiler,
so a run that finds its package in the cache can check the stored estimate quickly.
"""
from __future__ import annotations

import math
import os
import re
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Optional

GiB = 2**30
#: Where the machine's memory cannot be read.
FALLBACK_LIMIT = 16 * GiB
#: The share of the machine's memory a run may take (the rest: the system, other programs).
SHARE = 0.75

_LIMIT: ContextVar[Optional[int]] = ContextVar("snnlang_max_memory", default=None)

_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:[eE]([-+]?\d+))?\s*([kKmMgGtTpP]?)(i?)([bB]?)\s*")


def parse_size(text: str) -> int:
    """Bytes from ``64GiB``, ``64G`` (binary), ``64GB`` (decimal), ``512MiB``, ``1.5TiB``, ``1e9``."""
    match = _SIZE.fullmatch(text)
    if not match or (match.group(4) and not match.group(3)):  # "iB" needs a prefix: KiB, MiB, ...
        raise ValueError(f"{text!r} is not a size such as 64GiB, 512MiB or 2TB")
    number, exponent, prefix, binary, byte = match.groups()
    try:
        value = float(number) * 10.0 ** int(exponent or 0)
    except OverflowError:
        value = math.inf
    if prefix:
        decimal = bool(byte) and not binary  # GB: 10**9 bytes; G and GiB: 2**30
        value *= (1000 if decimal else 1024) ** ("kmgtp".index(prefix.lower()) + 1)
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"{text!r}: a memory limit is a size from 1 byte, such as 64GiB")
    return int(value)


def physical_memory() -> Optional[int]:
    """The machine's memory in bytes (its cgroup's limit where that is lower); None if unknown."""
    found = None
    try:
        found = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        pass
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except (OSError, ValueError):
            continue
        if text.isdigit() and int(text) > 0:  # "max": no limit
            found = int(text) if found is None else min(found, int(text))
    return found if found and found > 0 else None


def memory_limit() -> tuple[int, str]:
    """The limit in bytes, and where it comes from (for messages)."""
    given = _LIMIT.get()
    if given is not None:
        return given, "--max-memory"
    env = os.environ.get("SNNLANG_MAX_MEMORY")
    if env:
        try:
            return parse_size(env), "SNNLANG_MAX_MEMORY"
        except ValueError:
            pass
    machine = physical_memory()
    if machine is None:
        return FALLBACK_LIMIT, "the machine's memory is unknown"
    return int(machine * SHARE), f"{SHARE:.0%} of this machine's {format_bytes(machine)}"


@contextmanager
def max_memory(limit: Optional[int]) -> Iterator[None]:
    """Inside the ``with``, a run may need up to ``limit`` bytes (None: the limit as it is)."""
    token = _LIMIT.set(limit if limit is not None else _LIMIT.get())
    try:
        yield
    finally:
        _LIMIT.reset(token)


def format_bytes(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``7.5 GiB``, ``2.0 PiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"
