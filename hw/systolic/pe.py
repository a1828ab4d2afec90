"""The processing element: one registered multiply and one add of a partial sum."""

from amaranth.hdl import Module, Shape, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_int

__all__ = ["ProcessingElement", "check_operand", "product_bits"]

# ECP5's MULT18X18D takes operands of up to 18 bits; wider ones still work (several DSPs).
OPERAND_BITS_MAX = 32


def check_operand(name, shape):
    """``shape`` as a :class:`Shape` of 1..32 bits, or ``TypeError``/``ValueError`` naming ``name``."""
    try:
        shape = Shape.cast(shape)
    except TypeError:
        raise TypeError(f"{name} must be a shape, not {shape!r}") from None
    if not 1 <= shape.width <= OPERAND_BITS_MAX:
        raise ValueError(f"{name} must be 1..{OPERAND_BITS_MAX} bits wide, not {shape.width}")
    return shape


def product_bits(a_shape, b_shape):
    """Bits of the signed product of ``a_shape`` and ``b_shape`` operands."""
    return Shape.cast(a_shape).width + Shape.cast(b_shape).width + (not Shape.cast(a_shape).signed) \
        + (not Shape.cast(b_shape).signed)


class ProcessingElement(wiring.Component):
    """``sum_out = sum_in + a * b``, with the multiplier between registers.

    Both operands are registered as they enter and the product is registered
    as it leaves (on ECP5 Yosys maps the multiply of operands of at most 18
    bits to one MULT18X18D, whose fabric paths then start and end at
    flip-flops). The add of the partial sum is combinational: a tile chains
    it from element to element.

    Parameters
    ----------
    a_shape, b_shape : shape
        Operand shapes, 1..32 bits, signed or unsigned.
    acc_bits : int
        Bits of the signed partial sums, at least the product's.

    Members
    -------
    a, b : In
        Operands.
    sum_in : In(signed(acc_bits))
        Partial sum from the element before.
    sum_out : Out(signed(acc_bits))
        ``sum_in`` plus the product of the operands of :attr:`latency` cycles before.

    Latency :attr:`latency` = 2 cycles from the operands to their product in
    ``sum_out``; ``sum_in`` adds combinationally. One product per cycle.
    """

    LATENCY = 2

    def __init__(self, *, a_shape, b_shape, acc_bits):
        self._a_shape = check_operand("a_shape", a_shape)
        self._b_shape = check_operand("b_shape", b_shape)
        self._acc_bits = check_int("acc_bits", acc_bits, product_bits(self._a_shape, self._b_shape), 64)
        super().__init__({
            "a": In(self._a_shape), "b": In(self._b_shape),
            "sum_in": In(signed(self._acc_bits)), "sum_out": Out(signed(self._acc_bits)),
        })

    a_shape = property(lambda self: self._a_shape)
    b_shape = property(lambda self: self._b_shape)
    acc_bits = property(lambda self: self._acc_bits)

    @property
    def latency(self):
        return self.LATENCY

    def elaborate(self, platform):
        m = Module()
        a = Signal(self._a_shape, name="a_q", reset_less=True)
        b = Signal(self._b_shape, name="b_q", reset_less=True)
        product = Signal(signed(product_bits(self._a_shape, self._b_shape)), name="product", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b), product.eq(a * b)]
        m.d.comb += self.sum_out.eq(self.sum_in + product)
        return m
