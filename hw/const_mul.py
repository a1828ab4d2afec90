"""Multiplication by a constant as a sum of shifted copies of the operand."""

from amaranth.hdl import Const, Mux

from .params import check_int

__all__ = ["times_const", "times_either"]


def times_const(value, constant):
    """``value * constant`` as the sum of ``value << k`` over the set bits ``k`` of ``constant``.

    Yosys maps any ``a * b`` of 2..18-bit operands, constants included, to a
    whole DSP (MULT18X18D on ECP5, timed at a DSP's speed); a row size such
    as 64 or 96 is one or two shifted copies and an adder in the fabric.
    """
    constant = check_int("constant", constant, 0, 1 << 32)
    terms = [value << k for k in range(constant.bit_length()) if constant >> k & 1]
    if not terms:
        return Const(0, 1)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def times_either(value, select, constants):
    """``value * constants[select]`` for a 1-bit ``select``: both products, then a multiplexer."""
    low, high = constants
    return Mux(select, times_const(value, high), times_const(value, low))
