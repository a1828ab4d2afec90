"""Payloads of the fetcher's streams, and its plane and status codes (from ``golden.fetch``)."""

from amaranth.hdl import signed
from amaranth.lib import data, enum

from golden import fetch as golden_fetch
from golden.formats import PROB

__all__ = ["Plane", "Status", "request_layout", "index_layout", "run_layout", "desc_layout",
           "raw_row_layout", "row_layout", "summary_layout", "decision_layout"]


class Plane(enum.Enum, shape=1):
    """Plane a request reads (values of ``golden.fetch.Plane``)."""
    MSB = golden_fetch.Plane.MSB.value
    LSB = golden_fetch.Plane.LSB.value


class Status(enum.Enum, shape=3):
    """How a request ended (values of ``golden.fetch.Status``)."""
    OK = golden_fetch.Status.OK.value
    INDEX_RANGE = golden_fetch.Status.INDEX_RANGE.value
    MISALIGNED = golden_fetch.Status.MISALIGNED.value
    REGION_RANGE = golden_fetch.Status.REGION_RANGE.value
    SLVERR = golden_fetch.Status.SLVERR.value
    DECERR = golden_fetch.Status.DECERR.value


def request_layout(*, addr_bits, count_bits):
    """One request: the plane's ``base`` byte address, the head's ``rows``, which ``plane``."""
    return data.StructLayout({"base": addr_bits, "rows": count_bits, "plane": Plane})


def index_layout(*, index_bits):
    """One token index of a request's list; ``last`` ends the list; ``none``: the beat holds no
    index (an empty list is one beat with ``none`` and ``last``)."""
    return data.StructLayout({"index": index_bits, "last": 1, "none": 1})


def run_layout(*, addr_bits, index_bits, run_bits):
    """A run of ``count`` consecutive rows from ``first`` of the plane at ``base``; ``count = 0``
    is a terminator: the request ends with ``status`` and no row."""
    return data.StructLayout({"base": addr_bits, "plane": Plane, "first": index_bits,
                              "count": run_bits, "last": 1, "status": Status})


def desc_layout(*, index_bits, run_bits, nbytes_bits, skip_bits):
    """A run as the row assembler reads it: ``nbytes`` useful bytes from byte ``skip`` of the
    first word of the run's bursts."""
    return data.StructLayout({"first": index_bits, "count": run_bits, "nbytes": nbytes_bits,
                              "skip": max(1, skip_bits), "plane": Plane, "last": 1, "status": Status})


def raw_row_layout(*, row_bits, index_bits):
    """A packed row as read (``row_bits``: the wider plane's row), or a terminator (``has_row = 0``)."""
    return data.StructLayout({"raw": row_bits, "index": index_bits, "plane": Plane,
                              "has_row": 1, "last": 1, "status": Status})


def row_layout(*, head_dim, value_bits, index_bits):
    """The fetcher's output beat: ``codes`` (D on-chip codes: MSB-only codes of the MSB plane, or
    the LSB plane's codes in the low bits), ``index``, ``plane``; ``last`` on the request's last beat,
    whose ``status`` says how it ended; ``has_row = 0`` on a terminator beat (no row)."""
    return data.StructLayout({"codes": data.ArrayLayout(signed(value_bits), head_dim),
                              "index": index_bits, "plane": Plane, "has_row": 1, "last": 1,
                              "status": Status})


def summary_layout():
    """A query row's softmax summary: its largest probability code and whether it sees a key."""
    return data.StructLayout({"max_prob": PROB.bits, "visible": 1})


def decision_layout():
    """The re-fetch decision of a query row."""
    return data.StructLayout({"refetch": 1})
