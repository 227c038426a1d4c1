"""snnlang: a compiler for spiking neural networks.

The Python API (:mod:`snnlang.api`): ``snnlang.compile(spec)`` returns the generated
package's ``Network`` class, ``snnlang.check(spec)`` the diagnostics as objects,
``snnlang.train(spec, out)`` trains a spec's train block, ``snnlang.load_weights(net, npz)``.
Importing snnlang loads none of the compiler (SymPy loads only when a package is built).
"""
import importlib

__version__ = "0.1.0"

#: The Python API, loaded on first use (importing snnlang loads none of the compiler).
_API = {"compile": "api", "check": "api", "train": "api", "load_weights": "api", "sweep": "sweeps"}


def __getattr__(name):  # PEP 562
    if name in _API:
        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", "compile", "check", "train", "load_weights", "sweep"]
