"""Payloads of the head datapath's streams, and its error codes (from ``golden.head``)."""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data, enum

from golden import head as golden_head
from golden.formats import HEAD_IMPORTANCE, PROB, SCALE_MANT_BITS, TOKEN_IMPORTANCE, VALUE_KEEP
from golden.pv import out_format

from ..fetcher.layouts import Status
from ..systolic.score_scale import SHIFT_BITS

__all__ = ["HeadError", "COUNTERS", "job_layout", "out_row_layout", "importance_layout",
           "result_layout"]


class HeadError(enum.Enum, shape=3):
    """Why a job ended without its rows (values of ``golden.head.HeadError``)."""
    OK = golden_head.HeadError.OK.value
    D_RANGE = golden_head.HeadError.D_RANGE.value
    LK_RANGE = golden_head.HeadError.LK_RANGE.value
    LQ_RANGE = golden_head.HeadError.LQ_RANGE.value
    ALIVE_RANGE = golden_head.HeadError.ALIVE_RANGE.value
    ALIVE_ORDER = golden_head.HeadError.ALIVE_ORDER.value
    FETCH = golden_head.HeadError.FETCH.value


#: The job's counters (32 bits each, saturating), in the order of the result's ``counters``:
#: ``golden.spatten.HEAD_COUNTERS``, then bytes of Q, rows, re-fetched rows, and cycles from the
#: job taken to its result: in all, fetching (waiting on the fetcher), scoring (Q x K and softmax
#: until the row's summary), selecting (probabilities through the top-k into the kept list),
#: prob x V (the kept V rows through the array), stalled on an output stream, and waiting on
#: the memory (the fetcher's ``stall_cycles``: a burst in flight, no R beat).
COUNTERS = ("dram_bytes_k_msb", "dram_bytes_k_lsb", "dram_bytes_v_msb", "dram_bytes_v_lsb",
            "keys_fetched", "values_fetched", "macs_qk", "macs_pv",
            "dram_bytes_q", "rows", "rows_refetched",
            "cycles", "cycles_fetch", "cycles_score", "cycles_select", "cycles_pv",
            "cycles_out_stall", "cycles_memory_stall")
COUNTER_BITS = 32


def job_layout(*, addr_bits, head_dim, max_context):
    """One head's job: plane bases, sizes, causal flag, score scale, value-keep and threshold codes.

    ``lk``, ``lq`` and ``d`` are one bit wider than their largest good value
    so that a bad job is representable (and refused, ``HeadError``).
    """
    count = max_context.bit_length() + 1
    return data.StructLayout({
        "q_msb": addr_bits, "q_lsb": addr_bits, "k_msb": addr_bits, "k_lsb": addr_bits,
        "v_msb": addr_bits, "v_lsb": addr_bits,
        "lk": unsigned(count), "lq": unsigned(count), "d": unsigned(head_dim.bit_length() + 1),
        "causal": 1,
        "mantissa": unsigned(SCALE_MANT_BITS), "shift": unsigned(SHIFT_BITS),
        "value_keep": unsigned(VALUE_KEEP.bits), "threshold": unsigned(PROB.bits),
    })


def out_row_layout(*, head_dim, value_bits, max_context):
    """An output row: its number, ``head_dim`` output codes (0 past ``d``), re-fetched, V rows kept."""
    return data.StructLayout({
        "row": unsigned(max(1, (max_context - 1).bit_length())),
        "out": data.ArrayLayout(signed(out_format(value_bits).bits), head_dim),
        "refetch": 1, "kept": unsigned(max_context.bit_length()), "last": 1, "error": 1,
    })


def importance_layout(*, max_context):
    """One alive token's column sum of final probabilities (``TOKEN_IMPORTANCE`` codes).

    In alive-list order, ``last`` on the last; an empty list is one beat with
    ``none`` and ``last``.
    """
    return data.StructLayout({
        "token": unsigned(max(1, (max_context - 1).bit_length())),
        "importance": unsigned(TOKEN_IMPORTANCE.bits), "last": 1, "none": 1,
    })


def result_layout():
    """A job's last beat: ``error``, the fetcher's ``fetch_status``, the head importance, counters."""
    return data.StructLayout({
        "error": HeadError, "fetch_status": Status,
        "head_importance": unsigned(HEAD_IMPORTANCE.bits),
        "counters": data.StructLayout({name: COUNTER_BITS for name in COUNTERS}),
    })
