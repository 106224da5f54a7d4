"""robnas: a toolkit for robust neural architecture search.

robnas brings together robustness benchmarks of the NAS-Bench-201 space (Jung, Lukasik and
Keuper, ICLR 2023; Wu et al., NAS-RobBench-201, ICLR 2024), cheap robustness measures,
discrete search, and differentiable robust search (DSRNA, E2RNAS).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
