"""Differentiable robust architecture search: DARTS, DSRNA and E2RNAS on supernets.

* supernets with mixed operations for the NAS-Bench-201 space (:class:`NB201Supernet`) and the
  DARTS space (:class:`DARTSSupernet`, normal and reduction cells, 8 operations); the
  operations and networks they are built from live in :mod:`robnas.models` (DARTS' evaluation
  network :class:`DARTSNetwork`, re-exported here) and the genotype value in
  :mod:`robnas.spaces.darts` (:class:`Genotype`, re-exported);
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

from robnas.dnas.derive import derive_darts, derive_nb201
from robnas.dnas.methods import SearchMethod, available_methods, get_method, register_method
from robnas.dnas.mgda import frank_wolfe, min_norm_2, min_norm_exact, min_norm_weights
from robnas.dnas.search import SearchConfig, SearchDiverged, SearchRun, architecture_step, search
from robnas.dnas.supernet import DARTSSupernet, MixedOp, NB201Supernet, build_supernet
from robnas.models.darts import DARTSNetwork
from robnas.spaces.darts import DARTS_OPS, Genotype

__all__ = [
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
