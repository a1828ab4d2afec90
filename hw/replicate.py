"""Registered copies of a signal that synthesis keeps apart: a fanout tree."""

from amaranth.hdl import Signal

from .params import check_int

__all__ = ["replicas", "kept_copies"]


def replicas(m, value, count, *, name, enable=None, domain="sync", reset_less=None):
    """``count`` registers, each loaded with ``value`` (when ``enable``): latency 1.

    A signal that drives many distant loads (a pivot compared in every lane,
    a row address at every memory bank) is slow on an FPGA because of its
    routing, not its logic. Giving each group of loads its own copy of the
    register shortens every net. Each copy's signal carries ``keep``, which
    the synthesis flow (``gen.synth.KEEP_REGISTERS``) turns into a kept
    flip-flop: without it Yosys merges identical registers back into one.

    ``reset_less`` (default: that of ``value`` if it is a signal, else
    ``False``) leaves the copies out of the domain's reset: data copies
    qualified by a valid need none.

    Returns the list of copies; copy ``i`` is named ``{name}_r{i}``.
    """
    count = check_int("count", count, 1, 1024)
    copies = []
    for i in range(count):
        extra = {} if reset_less is None else {"reset_less": reset_less}
        copy = Signal.like(value, name=f"{name}_r{i}", attrs={"keep": 1}, **extra)
        if enable is None:
            m.d[domain] += copy.eq(value)
        else:
            with m.If(enable):
                m.d[domain] += copy.eq(value)
        copies.append(copy)
    return copies


def kept_copies(shape, count, *, name, init=0, reset_less=False):
    """``count`` signals of ``shape`` that the caller assigns identically: a register's copies.

    For a register whose next value comes from several places (a state
    machine's branches): each statement assigns every copy. The ``keep``
    attribute keeps the flip-flops apart (see :func:`replicas`).
    ``reset_less`` leaves them out of the domain's reset.
    """
    count = check_int("count", count, 1, 1024)
    return [Signal(shape, name=f"{name}_r{i}", init=init, reset_less=reset_less,
                   attrs={"keep": 1}) for i in range(count)]
