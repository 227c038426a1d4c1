"""The plan stage: the mathematics of a model, decided once for every target."""
from .build import make_plan
from .ir import Plan

__all__ = ["make_plan", "Plan"]
