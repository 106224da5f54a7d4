"""Networks built from architectures: NAS-Bench-201 and DARTS operations and networks, sizes.

See Dong and Yang, "NAS-Bench-201: Extending the scope of reproducible neural architecture
search", ICLR 2020, and Liu, Simonyan and Yang, "DARTS: Differentiable architecture search",
ICLR 2019, for the designs these modules follow.
"""

from robnas.models.darts import AuxiliaryHead, DARTSCell, DARTSMacro, DARTSNetwork
from robnas.models.darts_ops import DARTS_OPERATIONS, darts_op
from robnas.models.nb201 import NB201Cell, NB201Network, build_network, nb201_flops, nb201_param_count
from robnas.models.ops import OPERATIONS, Normalize, ResidualBlock, make_op
from robnas.models.sizes import CONVENTIONS, count_flops, count_params, full_graph

__all__ = [
    "CONVENTIONS",
    "DARTS_OPERATIONS",
    "OPERATIONS",
    "AuxiliaryHead",
    "DARTSCell",
    "DARTSMacro",
    "DARTSNetwork",
    "NB201Cell",
    "NB201Network",
    "Normalize",
    "ResidualBlock",
    "build_network",
    "count_flops",
    "count_params",
    "darts_op",
    "full_graph",
    "make_op",
    "nb201_flops",
    "nb201_param_count",
]
