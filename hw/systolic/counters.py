"""Utilization counters of the arrays: busy multiplier-cycles and active cycles."""

from amaranth.hdl import Mux, Signal, unsigned

__all__ = ["COUNTER_BITS", "count_utilization", "times"]

#: Width of the free-running counters (2**48 cycles: 20 days at 160 MHz).
COUNTER_BITS = 48


def times(count, value):
    """``count * value`` as shifts and adds of ``value`` (no multiplier: ``count`` is a few bits)."""
    terms = [Mux(count[i], value << i, 0) for i in range(len(count))]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def count_utilization(m, component, *, macs, active):
    """Drive ``component.busy_mac_count`` and ``component.active_cycle_count``.

    ``macs`` (multiplies that do useful work, started this cycle) is
    registered before it is added, so the counters trail the array by one
    cycle; ``active`` (a request under way) counts cycles. Both reset with
    the domain and wrap at ``2**COUNTER_BITS``.
    """
    macs_q = Signal(unsigned(len(macs)), name="busy_macs_q")
    busy = Signal(unsigned(COUNTER_BITS), name="busy_mac_count")
    cycles = Signal(unsigned(COUNTER_BITS), name="active_cycle_count")
    m.d.sync += [macs_q.eq(macs), busy.eq(busy + macs_q), cycles.eq(cycles + active)]
    m.d.comb += [component.busy_mac_count.eq(busy), component.active_cycle_count.eq(cycles)]
