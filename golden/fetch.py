"""The progressive-quantization fetcher: what it reads from DRAM and what it hands the core.

The fetcher of ``hw/fetcher`` is checked against these functions bit for bit,
its AXI4 read bursts included.

**Request.** One plane (MSB or LSB) of one head: ``base`` (byte address of
row 0, a multiple of the bus width), ``rows`` (the head's length, for the
bound check) and a list of token indices. Rows are packed as
:func:`golden.quant.pack_plane` packs them: ``row_bytes(D, w)`` bytes each,
one after the other (row stride = row bytes).

**Runs and bursts.** Indices that follow each other (``i, i+1, ...``) form a
run of at most ``max_run`` rows (:func:`runs`); a run is read as the bus words
that hold its bytes, in INCR bursts of at most 256 beats that never cross a
4 KB boundary (:func:`bursts`). Every word read holds a byte of a requested
row: nothing else is fetched.

**Output.** One row per index, in request order: the MSB plane as
``msb_only`` codes (MSBs left-aligned, half-LSB bias), the LSB plane as the
unsigned LSB codes, which the buffer merges into the low bits of the MSB-only
code it holds (:func:`merge_lsb`, equal to ``join_planes``).

**Bad input** ends the request with a status (:class:`Status`): a base that
is not a multiple of the bus width, or a plane that does not fit the address
space, fetches nothing; an index ``>= rows`` ends the list there (the rows
before it are fetched); an AXI error response drops the first row with a byte
in the word it answers and every later row of the request (the bursts already
planned are still read, so that the port is left clean).

**Re-fetch decision.** A query row re-fetches the LSB planes of its keys (and
values) when it sees some key and its largest probability code is below
:func:`refetch_threshold_code` (``golden.spatten.attend_head``).
"""

from __future__ import annotations

import enum
import math

import numpy as np

from .formats import PROB, as_int
from .quant import msb_only, row_bytes, unpack_plane

__all__ = ["AXI_BOUNDARY", "AXI_MAX_BEATS", "Plane", "Status", "refetch_threshold_code",
           "refetch_rows", "merge_lsb", "max_run_rows", "runs", "bursts", "plan", "fetch"]

#: An INCR burst never crosses a 4 KB boundary ...
AXI_BOUNDARY = 4096
#: ... and has at most 256 beats (AXI4).
AXI_MAX_BEATS = 256


class Plane(enum.IntEnum):
    """Which plane a request reads."""
    MSB = 0
    LSB = 1


class Status(enum.IntEnum):
    """How a request ended (the status of its last output beat)."""
    OK = 0
    INDEX_RANGE = 1     # an index >= rows: the list ends before it
    MISALIGNED = 2      # base is not a multiple of the bus width: nothing fetched
    REGION_RANGE = 3    # base + rows * row_bytes exceeds the address space: nothing fetched
    SLVERR = 4          # AXI slave error on a read beat: the remaining rows are dropped
    DECERR = 5          # AXI decode error on a read beat: likewise


def refetch_threshold_code(threshold):
    """``requant_threshold`` as a probability code (U1.15): ``round_half_up(t * 2**15)``."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in 0..1, not {threshold!r}")
    return math.floor(threshold * (1 << PROB.frac) + 0.5)


def refetch_rows(max_prob, any_visible, threshold_code):
    """Rows that re-fetch LSBs: some key visible and the largest probability code below the threshold."""
    return np.asarray(any_visible, dtype=bool) & (np.asarray(max_prob, dtype=np.int64) < threshold_code)


def merge_lsb(code, lsb_plane, lsb):
    """The full code from an MSB-only code and the LSB plane: ``join_planes(code >> lsb, lsb_plane)``."""
    lsb = as_int("lsb", lsb)
    code = np.asarray(code, dtype=np.int64)
    return (code >> lsb << lsb) | np.asarray(lsb_plane, dtype=np.int64)


def max_run_rows(data_bytes, row_bytes_max):
    """Longest run: as many rows as 256 beats hold (at least one)."""
    return max(1, AXI_MAX_BEATS * as_int("data_bytes", data_bytes) // as_int("row_bytes", row_bytes_max))


def runs(indices, max_run):
    """``[(first, count), ...]``: consecutive indices coalesced, at most ``max_run`` rows each."""
    out = []
    for index in indices:
        index = int(index)
        if out and index == out[-1][0] + out[-1][1] and out[-1][1] < max_run:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((index, 1))
    return out


def bursts(start, nbytes, data_bytes):
    """``[(address, beats), ...]``: INCR bursts reading the words of bytes ``start .. start+nbytes-1``."""
    first, last = start // data_bytes, (start + nbytes - 1) // data_bytes
    per_page = AXI_BOUNDARY // data_bytes
    out = []
    word = first
    while word <= last:
        beats = min(last - word + 1, AXI_MAX_BEATS, per_page - word % per_page)
        out.append((word * data_bytes, beats))
        word += beats
    return out


def plan(base, rows, indices, *, row_bytes, data_bytes, addr_bits, max_run):
    """``(runs, bursts, status)`` of a request: what the fetcher reads, before any AXI error."""
    if base % data_bytes:
        return [], [], Status.MISALIGNED
    if base + rows * row_bytes > 1 << addr_bits:
        return [], [], Status.REGION_RANGE
    good = []
    status = Status.OK
    for index in indices:
        if index >= rows:
            status = Status.INDEX_RANGE
            break
        good.append(index)
    planned = runs(good, max_run)
    out = []
    for first, count in planned:
        out += bursts(base + first * row_bytes, count * row_bytes, data_bytes)
    return planned, out, status


def fetch(memory, base, rows, indices, plane, *, msb, lsb, d, data_bytes, addr_bits, max_run,
          bad_words=()):
    """``(rows_out, status, bursts)``: what the fetcher outputs for a request.

    ``memory`` is indexable by byte address (``bytes`` or a uint8 array);
    ``rows_out`` is a list of ``(index, codes)`` in request order, ``codes``
    the ``d`` on-chip codes. ``bad_words`` maps word addresses whose read
    answers an AXI error to that :class:`Status` (SLVERR or DECERR): the first
    row with a byte in such a word and every row after it are dropped.
    """
    width = msb if plane == Plane.MSB else lsb
    nbytes = row_bytes(d, width)
    planned, burst_list, status = plan(base, rows, indices, row_bytes=nbytes, data_bytes=data_bytes,
                                       addr_bits=addr_bits, max_run=max_run)
    bad_words = dict(bad_words)
    out = []
    for first, count in planned:
        for index in range(first, first + count):
            start = base + index * nbytes
            words = range(start // data_bytes * data_bytes, start + nbytes, data_bytes)
            errors = [bad_words[w] for w in words if w in bad_words]
            if errors:
                return out, Status(errors[0]), burst_list
            raw = np.frombuffer(bytes(memory[start:start + nbytes]), np.uint8)
            if plane == Plane.MSB:
                codes = msb_only(unpack_plane(raw[None], msb, d, signed=True)[0], lsb)
            else:
                codes = unpack_plane(raw[None], lsb, d, signed=False)[0]
            out.append((index, [int(c) for c in codes]))
    return out, status, burst_list
