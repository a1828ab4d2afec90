"""Constructor parameter checks shared by the hardware components.

Each raises ``TypeError`` or ``ValueError`` with a message that names the
parameter and its allowed range, e.g. ``"lanes must be a power of two in
2..64, not 12"``.
"""

from golden.formats import as_int as _as_int

__all__ = ["check_int", "check_pow2", "check_bool"]


def check_int(name, value, lo, hi):
    """``value`` as an ``int`` in ``lo..hi`` (``bool`` is not an integer here)."""
    value = _as_int(name, value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, not {value!r}")
    return value


def check_pow2(name, value, lo, hi):
    """``value`` as an ``int`` in ``lo..hi`` that is a power of two."""
    value = _as_int(name, value)
    if not lo <= value <= hi or value & (value - 1):
        raise ValueError(f"{name} must be a power of two in {lo}..{hi}, not {value!r}")
    return value


def check_bool(name, value):
    """``value`` itself, which must be a ``bool``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value
