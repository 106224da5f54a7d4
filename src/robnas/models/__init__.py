"""Networks built from architectures: NAS-Bench-201 operations, the NAS-Bench-201 network, sizes.

See Dong and Yang, "NAS-Bench-201: Extending the scope of reproducible neural architecture
search", ICLR 2020, for the design these modules follow.
"""

from robnas.models.nb201 import NB201Cell, NB201Network, build_network, nb201_flops, nb201_param_count
from robnas.models.ops import OPERATIONS, Normalize, ResidualBlock, make_op
from robnas.models.sizes import CONVENTIONS, count_flops, count_params, full_graph

__all__ = [
    "CONVENTIONS",
    "OPERATIONS",
    "NB201Cell",
    "NB201Network",
    "Normalize",
    "ResidualBlock",
    "build_network",
    "count_flops",
    "count_params",
    "full_graph",
    "make_op",
    "nb201_flops",
    "nb201_param_count",
]
