"""What the Q x K and prob x V units share: their parameters and checks."""

from amaranth.lib import wiring

from ..params import check_int

__all__ = ["ArrayUnit"]


class ArrayUnit(wiring.Component):
    """Base of the array units: ``head_dim``, ``max_context``, ``value_bits``, ``multipliers``.

    :meth:`_check_array` validates them (``multipliers`` a multiple of
    ``head_dim``, at most 64 rows of it) and returns ``multipliers //
    head_dim``, the rows (keys or V rows) the unit takes per cycle.
    """

    def _check_array(self, head_dim, max_context, value_bits, multipliers):
        self._head_dim = check_int("head_dim", head_dim, 1, 256)
        self._max_context = check_int("max_context", max_context, 1, 65536)
        self._value_bits = check_int("value_bits", value_bits, 2, 18)
        self._multipliers = check_int("multipliers", multipliers, self._head_dim, 64 * self._head_dim)
        if self._multipliers % self._head_dim:
            raise ValueError(f"multipliers must be a multiple of head_dim ({self._head_dim}), "
                             f"not {self._multipliers!r}")
        return self._multipliers // self._head_dim

    head_dim = property(lambda self: self._head_dim)
    max_context = property(lambda self: self._max_context)
    value_bits = property(lambda self: self._value_bits)
    multipliers = property(lambda self: self._multipliers)

    @property
    def index_bits(self):
        """Bits of a token index 0..max_context-1."""
        return max(1, (self._max_context - 1).bit_length())
