"""Sequence-state cases shared by its Amaranth-simulator tests and its cocotb bench: layer commands,
random importances and the reference (``golden.spatten.SpattenAttention``'s sequence state with
the command's keep counts)."""

from dataclasses import dataclass

import numpy as np

from golden.command import MAX_HEADS, MAX_LAYERS, pack_survivors
from golden.formats import HEAD_IMPORTANCE, TOKEN_IMPORTANCE
from golden.pruning import protect_mask, prune, prune_step, sat_add

__all__ = ["Layer", "Reference", "random_importance", "random_job", "random_head_importance",
           "random_commands"]


@dataclass(frozen=True)
class Layer:
    """One beat of ``SequenceState.layer`` (``hw.core.sequence.layer_layout``)."""
    fresh: bool
    causal: bool
    layer: int
    keys: int
    heads: int
    token_keep: int
    head_keep: int


class Reference:
    """The sequence state of golden.spatten.SpattenAttention, with the command's keep counts.

    ``cfg`` needs ``max_context``, ``head_dim``, ``value_bits`` and ``axi_data_bits`` (the survivor
    record's row size); ``sinks`` and ``recent`` are the protected tokens of a causal command.
    """

    def __init__(self, cfg, sinks, recent):
        self.cfg, self.sinks, self.recent = cfg, sinks, recent
        self.alive_list = []
        self.reset()

    def reset(self):
        self.alive = np.zeros(0, dtype=bool)
        self.imp = np.zeros(0, dtype=np.int64)
        self.head_alive = {}
        self.head_score = np.zeros(MAX_HEADS, dtype=np.int64)

    def add(self, token, value):
        self.imp[token] = sat_add(self.imp[token:token + 1], [value], TOKEN_IMPORTANCE)[0]

    def add_head(self, head, value):
        self.head_score[head] = sat_add(self.head_score[head:head + 1], [value], HEAD_IMPORTANCE)[0]

    def step(self, c):
        """``(rows, pruned)`` of command ``c``: survivor rows (bytes), the pruned beat's fields."""
        if c.fresh:
            self.reset()
        n = self.alive.size
        if c.keys < n:
            return [], {"error": 1, "head_alive": 0, "tokens_alive": int(self.alive.sum()),
                        "tokens_pruned": 0, "heads_pruned": 0}
        self.alive = np.concatenate([self.alive, np.ones(c.keys - n, dtype=bool)])
        self.imp = np.concatenate([self.imp, np.zeros(c.keys - n, dtype=np.int64)])
        before = int(self.alive.sum())
        protect = protect_mask(c.keys, self.sinks, self.recent) if c.causal else None
        self.alive = prune_step(self.imp, self.alive, c.token_keep, protect)
        ones = np.ones(MAX_HEADS, dtype=bool)
        before_layer = self.head_alive.get(c.layer - 1, ones) if c.layer else ones
        cand = self.head_alive.get(c.layer, ones) & before_layer
        cand &= np.arange(MAX_HEADS) < c.heads
        kept = prune(self.head_score, cand, c.head_keep) if cand.sum() > c.head_keep else cand
        self.head_alive[c.layer] = kept
        self.alive_list = [int(j) for j in np.flatnonzero(self.alive)]
        rows = [raw for _, raw in pack_survivors(self.cfg, kept[:c.heads], self.alive)]
        return rows, {"error": 0, "head_alive": sum(1 << int(h) for h in np.flatnonzero(kept)),
                      "tokens_alive": int(self.alive.sum()), "tokens_pruned": before - int(self.alive.sum()),
                      "heads_pruned": int(cand.sum() - kept.sum())}


def random_importance(rng, fmt):
    """An importance for format ``fmt``: near saturation, mid-range, ties (tiny values) or random."""
    r = rng.random()
    if r < 0.1:
        return fmt.max_int - rng.randrange(4)
    if r < 0.25:
        return rng.randrange(fmt.max_int // 4, fmt.max_int // 2)
    if r < 0.35:
        return rng.randrange(4)     # ties
    return rng.randrange(1 << 16)


def random_job(rng, alive_list):
    """One head job's importance beats over ``alive_list``: ``(token, importance, last, none)``; a job
    whose list comes out empty is one ``none`` beat."""
    tokens = [t for t in alive_list if rng.random() < 0.8]
    beats = [(t, random_importance(rng, TOKEN_IMPORTANCE)) for t in tokens]
    if not beats:
        return [(0, 0, 1, 1)]
    return [(t, v, int(j == len(beats) - 1), 0) for j, (t, v) in enumerate(beats)]


def random_head_importance(rng):
    """``(head, importance)`` of one head-importance beat."""
    return rng.randrange(MAX_HEADS), random_importance(rng, HEAD_IMPORTANCE)


def random_commands(rng, max_context, count):
    """A random run of layer commands: sequences (fresh), growth, pruning, a few keys shrinks."""
    n, layer, heads = 0, 0, 1
    out = []
    for _ in range(count):
        fresh = n == 0 or rng.random() < 0.15
        if fresh:
            n, layer, heads = 0, rng.randrange(3), rng.choice([1, 2, 5, 12, MAX_HEADS])
        else:
            layer = rng.choice([layer + 1, layer + 1, 0, rng.randrange(MAX_LAYERS)]) % MAX_LAYERS
            if rng.random() < 0.1:
                heads = rng.randint(1, MAX_HEADS)
        if not fresh and n > 1 and rng.random() < 0.1:
            keys = rng.randrange(1, n)          # KEYS_SHRINK
        else:
            keys = min(max_context, max(1, n + rng.choice([0, 0, 1, 1, 3, rng.randrange(max_context)])))
        token_keep = rng.choice([keys, rng.randint(1, keys), rng.randint(max(1, keys // 2), keys)])
        head_keep = rng.choice([heads, rng.randint(1, heads)])
        out.append(Layer(fresh, rng.random() < 0.5, layer, keys, heads, token_keep, head_keep))
        if keys >= n or fresh:
            n = keys
    return out
