"""The sizes every stage of a top-k engine shares (lanes, rows, widths, register copies)."""

from amaranth.hdl import signed, unsigned

from golden.topk_timing import LUT_RAM_ROWS, lane_ram_latency

__all__ = ["TopKGeometry", "check_geometry"]


class TopKGeometry:
    """Sizes of one :class:`hw.topk.TopKEngine`, read by each of its stage components.

    Parameters
    ----------
    n_max, lanes, score_bits, signed
        As the engine's ``n_max``, ``parallelism``, ``score_bits`` and
        ``signed`` (validated there).

    The register copies (``*_copies``) split a broadcast signal's fanout:
    one copy per group of lanes keeps each net short (``hw.replicate``).
    """

    # Bits of a memory slice with its own read row (hw.lane_ram).
    RAM_SLICE_BITS = 8
    # Lanes served by one copy of a broadcast register (the input buffer's
    # write row, the final pass's read rows, the rows masks).
    COPY_LANES = 4
    # Lanes whose data multiplexers share one copy of their select.
    SELECT_LANES = 2
    # Lanes compared with one copy of each pivot (four carry chains per
    # lane), and with one copy of the final pass's threshold.
    PIVOT_LANES = 2
    # Columns whose rotation multiplexers share one copy of the fill offset.
    ROTATE_GROUP = 1

    def __init__(self, *, n_max, lanes, score_bits, signed):
        self.n_max, self.lanes, self.score_bits, self.signed = n_max, lanes, score_bits, signed

    @property
    def shape(self):
        return signed(self.score_bits) if self.signed else unsigned(self.score_bits)

    @property
    def count_bits(self):
        """Width of ``n``, ``k`` and the counts of candidates."""
        return self.n_max.bit_length()

    @property
    def index_bits(self):
        return max(1, (self.n_max - 1).bit_length())

    @property
    def lane_bits(self):
        """``log2(P)``: the low bits of a position, its lane."""
        return self.lanes.bit_length() - 1

    @property
    def sample(self):
        """``S = min(P, 16)``: candidates ranked to choose the pivots."""
        return min(self.lanes, 16)

    @property
    def rows(self):
        """Depth of the input buffer and of each bank of L, M and R."""
        return -(-self.n_max // self.lanes)

    @property
    def row_bits(self):
        return max(1, (self.rows - 1).bit_length())

    @property
    def mask_bits(self):
        """Width of a part's rows mask: a count's bits above the lane."""
        return self.count_bits - self.lane_bits

    @property
    def block_ram(self):
        """The buffers are block RAM (more than ``LUT_RAM_ROWS`` rows)."""
        return self.rows > LUT_RAM_ROWS

    @property
    def read_delay(self):
        """Cycles a buffer read takes beyond one: 0, or 1 with block RAM."""
        return lane_ram_latency(self.block_ram) - 1

    @property
    def slice_bits(self):
        return self.shape.width if self.block_ram else self.RAM_SLICE_BITS

    @property
    def slices(self):
        """Read rows of each buffer lane (:attr:`hw.lane_ram.LaneRam.slices`)."""
        return -(-self.shape.width // self.slice_bits)

    @property
    def broadcast_copies(self):
        """Copies of a broadcast register, one per :attr:`COPY_LANES` lanes."""
        return max(1, self.lanes // self.COPY_LANES)

    @property
    def select_copies(self):
        """Copies of a data multiplexer's select, one per :attr:`SELECT_LANES` lanes."""
        return max(1, self.lanes // self.SELECT_LANES)

    @property
    def pivot_copies(self):
        """Copies of each pivot and of the threshold, one per :attr:`PIVOT_LANES` lanes."""
        return max(1, self.lanes // self.PIVOT_LANES)

    def group(self, lane, copies):
        """The copy (of ``copies``) that serves ``lane``."""
        return lane * copies // self.lanes


def check_geometry(geometry):
    """``geometry`` if it is a :class:`TopKGeometry` (a stage's only parameter), else ``TypeError``."""
    if not isinstance(geometry, TopKGeometry):
        raise TypeError(f"geometry must be a TopKGeometry, not {geometry!r}")
    return geometry
