"""The progressive-quantization fetcher (issue 17): AXI4 read master, bit-width converter,
re-fetch decision. :class:`Fetcher` is the block; the other classes are its stages."""

from .assembler import RowAssembler
from .axi import AxiReadSignature
from .counters import COUNTERS, FetchCounters
from .decision import RefetchDecision
from .issuer import BurstIssuer
from .layouts import Plane, Status
from .planner import RunPlanner
from .top import Fetcher, fetcher_from_config
from .unpack import RowUnpacker, merge_lsb

__all__ = ["Fetcher", "fetcher_from_config", "RunPlanner", "BurstIssuer", "RowAssembler", "RowUnpacker",
           "RefetchDecision", "FetchCounters", "COUNTERS", "AxiReadSignature", "Plane", "Status",
           "merge_lsb"]
