"""Payload layouts of the softmax unit's streams and buffers, with widths from ``golden/softmax.py``."""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from golden.softmax import SOFTMAX, softmax_widths

__all__ = ["widths", "score_beat", "prob_beat", "row_summary", "norm_beat",
           "row_head", "row_tag", "row_recip", "z_values"]


def widths(n_max):
    """``golden.softmax.softmax_widths`` for rows of up to ``n_max`` keys."""
    return softmax_widths(n_max, SOFTMAX)


def _lanes_of(shape, lanes):
    return data.ArrayLayout(shape, lanes)


def score_beat(lanes, index_bits):
    """Input beat: ``lanes`` S10.8 scores, their token indices, the count of valid (low) lanes, ``last``."""
    return data.StructLayout({
        "score": _lanes_of(signed(SOFTMAX.score.bits), lanes),
        "index": _lanes_of(unsigned(index_bits), lanes),
        "count": range(lanes + 1),
        "last": 1,
    })


def prob_beat(lanes, index_bits):
    """Output beat: the U1.15 probabilities of one input beat, its indices, count and ``last``."""
    return data.StructLayout({
        "prob": _lanes_of(unsigned(SOFTMAX.prob.bits), lanes),
        "index": _lanes_of(unsigned(index_bits), lanes),
        "count": range(lanes + 1),
        "last": 1,
    })


def row_summary(n_max):
    """One per row: its largest probability (U1.15), its length (keys kept) and ``error``."""
    return data.StructLayout({
        "max_prob": unsigned(SOFTMAX.prob.bits),
        "length": range(n_max + 1),
        "error": 1,
    })


def norm_beat(lanes, index_bits):
    """An exp beat as the second buffer holds it: ``e'`` (U1.17, the normaliser's operand) per lane."""
    return data.StructLayout({
        "exp_norm": _lanes_of(unsigned(SOFTMAX.norm_frac + 1), lanes),
        "index": _lanes_of(unsigned(index_bits), lanes),
        "count": range(lanes + 1),
        "last": 1,
    })


def row_tag(n_max, beats_cap):
    """What a row carries from stage to stage: its beats in the buffers (1..beats_cap), length, error."""
    return data.StructLayout({
        "beats": range(1, beats_cap + 1),
        "length": range(n_max + 1),
        "error": 1,
    })


def row_head(n_max, beats_cap):
    """A row whose scores are all in the row buffer: its max and :func:`row_tag`."""
    return data.StructLayout({
        "row_max": signed(SOFTMAX.score.bits),
        "tag": row_tag(n_max, beats_cap),
    })


def row_recip(n_max, beats_cap):
    """A row ready to normalise: ``R``, ``z - exp_frac``, its largest probability and :func:`row_tag`."""
    w = widths(n_max)
    return data.StructLayout({
        "recip": unsigned(w["recip_bits"]),
        "z_excess": range(z_values(n_max)),
        "max_prob": unsigned(SOFTMAX.prob.bits),
        "tag": row_tag(n_max, beats_cap),
    })


def z_values(n_max):
    """Values of ``z - exp_frac`` (``z = floor(log2 S)``) for rows of up to ``n_max`` keys."""
    return widths(n_max)["sum_bits"] - SOFTMAX.exp_frac
