"""A mesh of tiles with registers at every tile boundary."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int
from .pe import ProcessingElement, check_operand, product_bits
from .tile import Tile

__all__ = ["Mesh"]


class Mesh(wiring.Component):
    """``rows x cols`` processing elements in tiles of ``tile_rows x tile_cols``.

    Operand A enters each row at the left and moves one tile to the right per
    cycle; partial sums start at zero at the top and move one tile down per
    cycle; ``sum[c]`` leaves column ``c`` at the bottom through a register.
    Inside a tile everything is combinational (:class:`Tile`), so the tile
    size is the pipeline depth parameter: registers every ``tile_rows``
    elements down and every ``tile_cols`` across.

    Timing of one item (a set of operands whose products a column sums): if
    its operands of tile row 0, tile column 0 are presented in cycle ``x``,
    then ``a[r]`` must be presented in cycle ``x + a_skew(r)``, ``b[r][c]``
    in ``x + b_skew(r, c)``, and ``sum[c]`` holds the column's sum in cycle
    ``x + out_latency(c)``. A new item can start every cycle.

    Parameters
    ----------
    rows, cols : int
        Elements down (summed) and across, 1..4096.
    tile_rows, tile_cols : int
        Elements per tile down and across; they divide ``rows`` and ``cols``.
    a_shape, b_shape : shape
        Operand shapes (see :class:`ProcessingElement`).
    acc_bits : int
        Bits of the signed column sums, at least the product's.

    Members
    -------
    a : In(ArrayLayout(a_shape, rows))
        Operand A of each row.
    b : In(ArrayLayout(ArrayLayout(b_shape, cols), rows))
        Operand B of each element.
    sum : Out(ArrayLayout(signed(acc_bits), cols))
        Column sums (registered).
    """

    def __init__(self, *, rows, cols, tile_rows=1, tile_cols=1, a_shape, b_shape, acc_bits):
        self._rows = check_int("rows", rows, 1, 4096)
        self._cols = check_int("cols", cols, 1, 4096)
        self._tile_rows = check_int("tile_rows", tile_rows, 1, self._rows)
        self._tile_cols = check_int("tile_cols", tile_cols, 1, self._cols)
        if self._rows % self._tile_rows:
            raise ValueError(f"tile_rows must divide rows ({self._rows}), not {self._tile_rows!r}")
        if self._cols % self._tile_cols:
            raise ValueError(f"tile_cols must divide cols ({self._cols}), not {self._tile_cols!r}")
        self._a_shape = check_operand("a_shape", a_shape)
        self._b_shape = check_operand("b_shape", b_shape)
        self._acc_bits = check_int("acc_bits", acc_bits, product_bits(self._a_shape, self._b_shape), 64)
        super().__init__({
            "a": In(data.ArrayLayout(self._a_shape, self._rows)),
            "b": In(data.ArrayLayout(data.ArrayLayout(self._b_shape, self._cols), self._rows)),
            "sum": Out(data.ArrayLayout(signed(self._acc_bits), self._cols)),
        })

    rows = property(lambda self: self._rows)
    cols = property(lambda self: self._cols)
    tile_rows = property(lambda self: self._tile_rows)
    tile_cols = property(lambda self: self._tile_cols)
    acc_bits = property(lambda self: self._acc_bits)

    @property
    def grid_rows(self):
        """Tiles down (register stages of the partial sums)."""
        return self._rows // self._tile_rows

    @property
    def grid_cols(self):
        """Tiles across (register stages of operand A)."""
        return self._cols // self._tile_cols

    def a_skew(self, row):
        """Cycles after an item's start at which ``a[row]`` is presented."""
        return row // self._tile_rows

    def b_skew(self, row, col):
        """Cycles after an item's start at which ``b[row][col]`` is presented."""
        return row // self._tile_rows + col // self._tile_cols

    def out_latency(self, col):
        """Cycles from an item's start to its sum in ``sum[col]``."""
        return self.out_latency_of(rows=self._rows, tile_rows=self._tile_rows, col=col,
                                   tile_cols=self._tile_cols)

    @staticmethod
    def out_latency_of(*, rows, tile_rows, col=0, tile_cols=1):
        """:meth:`out_latency` of a mesh of these parameters, without building one."""
        return rows // tile_rows + ProcessingElement.LATENCY + col // tile_cols

    @property
    def fill_latency(self):
        """Cycles from an item's start to its last column sum (the mesh's fill and drain)."""
        return self.out_latency(self._cols - 1)

    def elaborate(self, platform):
        m = Module()
        tr_n, tc_n, th, tw = self.grid_rows, self.grid_cols, self._tile_rows, self._tile_cols
        tiles = [[None] * tc_n for _ in range(tr_n)]
        for tr in range(tr_n):
            for tc in range(tc_n):
                tile = tiles[tr][tc] = m.submodules[f"tile_{tr}_{tc}"] = Tile(
                    rows=th, cols=tw, a_shape=self._a_shape, b_shape=self._b_shape, acc_bits=self._acc_bits)
                for r in range(th):
                    for c in range(tw):
                        m.d.comb += tile.b[r][c].eq(self.b[tr * th + r][tc * tw + c])
                # Operand A: from the mesh's left edge, else from the tile on the left through a register.
                if tc == 0:
                    for r in range(th):
                        m.d.comb += tile.a[r].eq(self.a[tr * th + r])
                else:
                    a = Signal.like(tile.a, name=f"a_{tr}_{tc}", reset_less=True)
                    m.d.sync += a.eq(tiles[tr][tc - 1].a_out)
                    m.d.comb += tile.a.eq(a)
                # Partial sums: zero at the top, else from the tile above through a register.
                if tr:
                    above = Signal.like(tile.sum_in, name=f"sum_{tr}_{tc}", reset_less=True)
                    m.d.sync += above.eq(tiles[tr - 1][tc].sum_out)
                    m.d.comb += tile.sum_in.eq(above)
        for tc in range(tc_n):
            for c in range(tw):
                out = Signal(signed(self._acc_bits), name=f"sum_out_{tc * tw + c}", reset_less=True)
                m.d.sync += out.eq(tiles[tr_n - 1][tc].sum_out[c])
                m.d.comb += self.sum[tc * tw + c].eq(out)
        return m
