"""Cycle model of the array units (hw/systolic): when each request's data beats stream.

A unit takes one data beat per cycle. Requests queued at once follow each
other with no gap, except where a request slot is still held: the Q x K
unit keeps a request's query row in its bank until the request's last score
has left, so request ``i + 2`` (the same bank) starts at the earliest
``turnaround`` cycles after the last beat of request ``i``. The prob x V unit
frees a slot at its last beat (``turnaround=None``). The latencies are the
units' properties (``QkUnit.latency``, ``QkUnit.bank_turnaround``,
``PvUnit.latency``), passed in, not copied here.
"""

from .formats import as_int

__all__ = ["stream_starts", "stream_cycles"]


def stream_starts(beats, *, turnaround=None):
    """Cycle of the first data beat of each request (the first at 0), all queued at once, no pauses."""
    beats = [as_int("beats", b) for b in beats]
    if any(b < 1 for b in beats):
        raise ValueError("beats must be >= 1 for every request")
    starts, ends = [], []
    for i, b in enumerate(beats):
        start = ends[-1] + 1 if i else 0
        if turnaround is not None and i >= 2:
            start = max(start, ends[i - 2] + as_int("turnaround", turnaround))
        starts.append(start)
        ends.append(start + b - 1)
    return starts


def stream_cycles(beats, *, latency, turnaround=None):
    """Cycles from the first data beat to the last output beat, both counted."""
    beats = list(beats)
    return stream_starts(beats, turnaround=turnaround)[-1] + beats[-1] - 1 + as_int("latency", latency) + 1
