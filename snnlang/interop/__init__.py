"""Exchange with other tools: NIR, the Neuromorphic Intermediate Representation
(:mod:`snnlang.interop.nir`: ``snnlang export`` and ``snnlang import``; docs/interop.md)."""
