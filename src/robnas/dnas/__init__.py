"""Differentiable robust architecture search: DARTS, DSRNA and E2RNAS on supernets.

* supernets with mixed operations for the NAS-Bench-201 space (:class:`NB201Supernet`) and the
  DARTS space (:class:`DARTSSupernet`, normal and reduction cells, 8 operations) and DARTS'
  evaluation network built from a :class:`Genotype` (:class:`DARTSNetwork`);
* one bi-level loop (:func:`search`, first- and second-order architecture steps, Liu et al.,
  ICLR 2019) shared by the methods of :func:`get_method`: ``darts``, ``dsrna-cb``,
  ``dsrna-jacobian`` (Hosseini, Yang and Xie, CVPR 2021), ``e2rnas`` (Yue et al., 2020, with the
  MGDA min-norm solvers of :mod:`robnas.dnas.mgda`) and ``darts-at``;
* derivation of discrete architectures, the alpha record and its plots, evaluation of what was
  found (benchmark look-up for NAS-Bench-201 cells, brief training and attack for genotypes).

Quick use::

    from robnas.dnas import SearchConfig, search
    run = search(SearchConfig(space="nb201", method="e2rnas", epochs=3), "runs/e2rnas")
    run.derived        # an Arch; runs/e2rnas holds history.json, checkpoint.pt, result.json
"""

from robnas.dnas.darts_network import DARTSNetwork
from robnas.dnas.darts_ops import DARTS_OPERATIONS, DARTS_OPS, darts_op
from robnas.dnas.derive import Genotype, derive_darts, derive_nb201
from robnas.dnas.methods import SearchMethod, available_methods, get_method, register_method
from robnas.dnas.mgda import frank_wolfe, min_norm_2, min_norm_exact, min_norm_weights
from robnas.dnas.search import SearchConfig, SearchDiverged, SearchRun, architecture_step, search
from robnas.dnas.supernet import DARTSSupernet, MixedOp, NB201Supernet, build_supernet

__all__ = [
    "DARTS_OPERATIONS",
    "DARTS_OPS",
    "DARTSNetwork",
    "DARTSSupernet",
    "Genotype",
    "MixedOp",
    "NB201Supernet",
    "SearchConfig",
    "SearchDiverged",
    "SearchMethod",
    "SearchRun",
    "architecture_step",
    "available_methods",
    "build_supernet",
    "darts_op",
    "derive_darts",
    "derive_nb201",
    "frank_wolfe",
    "get_method",
    "min_norm_2",
    "min_norm_exact",
    "min_norm_weights",
    "register_method",
    "search",
]
