"""snnlang: a compiler for spiking neural networks.

The Python API (:mod:`snnlang.api`): ``snnlang.compile(spec)`` returns the generated
package's ``Network`` class, ``snnlang.check(spec)`` the diagnostics as objects,
``snnlang.train(spec, out)`` trains a spec's train block, ``snnlang.load_weights(net, npz)``.
Importing snnlang loads none of the compiler (SymPy loads only when a package is built).
"""
import importlib
import sys
import types

__version__ = "0.1.0"



class _Entry:
    """``snnlang.check`` and ``snnlang.train`` are both an API function and the name of a
    module of the package (``snnlang/check.py``, ``snnlang/train/``): calling one calls the
    function; its attributes are the module's (``snnlang.train.bptt``, ``snnlang.check.check``),
    so code and tools that reach the module through the package keep working."""

    def __init__(self, name: str):
        self.__name__ = self.__qualname__ = name

    @property
    def __wrapped__(self):  # the API function, loaded on first use
        return getattr(importlib.import_module(f"{__name__}.api"), self.__name__)

    @property
    def __doc__(self):
        return self.__wrapped__.__doc__

    def __call__(self, *args, **kwargs):
        return self.__wrapped__(*args, **kwargs)

    def __getattr__(self, attr):
        module = importlib.import_module(f"{__name__}.{self.__name__}")
        try:
            return getattr(module, attr)
        except AttributeError:  # a submodule not imported yet (snnlang.train.bptt)
            try:
                return importlib.import_module(f"{module.__name__}.{attr}")
            except ModuleNotFoundError:
                raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}") from None

    def __repr__(self) -> str:
        return f"<snnlang.{self.__name__}: the API function (and the module snnlang.{self.__name__})>"


class _Package(types.ModuleType):
    """The package module: importing the module ``snnlang.check`` or ``snnlang.train`` does not
    replace the API function of that name (the module stays in ``sys.modules``)."""

    def __setattr__(self, name, value):
        if name in ("check", "train") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


def __getattr__(name):  # PEP 562: compile and load_weights load the API module on first use
    if name in ("compile", "load_weights"):
        return getattr(importlib.import_module(f"{__name__}.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


check = _Entry("check")
train = _Entry("train")
sys.modules[__name__].__class__ = _Package

__all__ = ["__version__", "compile", "check", "train", "load_weights"]
