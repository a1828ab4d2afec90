"""SpAtten attention, bit-accurate, layer by layer: the golden model of the whole datapath.

:class:`SpattenAttention` is called by a model's forward pass in place of its
attention (contract: ``notes/GOLDEN_API.md``); :func:`spatten_layer` and
:func:`spatten_model` drive it with given Q/K/V per layer. One call, for layer
``l`` and every head ``h`` still alive, does what the hardware does:

1. **Token pruning** before the layer: keep ``keep_count(keep_ratio(l), Lk)``
   (at least ``cfg.token_keep_min``) of the alive tokens, ranked by accumulated
   token importance (``golden.pruning``). In causal calls the first
   ``cfg.token_protect_sinks`` and the newest ``cfg.token_protect_recent``
   tokens are never pruned (they count towards the kept number), and with
   ``cfg.token_importance_norm`` tokens rank by ``(importance << 16) // seen``,
   ``seen`` the query rows (over heads, layers, calls) that saw the token; a
   token no row has seen yet ranks first. With ``cfg.token_prune_prefill``
   false, calls of several query rows (prefills, encoders) prune no tokens:
   only decoding steps do. **Head pruning**: the same with heads, among those
   alive at layer ``l - 1`` (and, across generation steps, at ``l`` before).
2. **Quantization**: Q, K, V to ``B = cfg.value_bits`` symmetric codes, one float
   scale per tensor (Q and K per head with ``per_head_scale=True``; V always per
   layer so that head importances compare), from the tensors of the call (in
   ``"generate"`` mode the whole cache passed; a deployment would calibrate them
   once). K and V live in DRAM as MSB and LSB planes (``golden.quant``). ``D`` is
   taken from the data (``cfg.head_dim`` is the hardware's, not checked here);
   ``Lk`` must not exceed ``cfg.max_context``. Traffic options (issue 14, off
   unless the cfg sets them; costs in ``golden.formats``): ``k_scale="channel"``
   quantizes K per head and channel (about its centre with ``k_zero_point``)
   and multiplies Q by the K scales before Q is quantized, so the Q x K array
   sees codes only and the centre's per-row constant drops out of the softmax;
   ``v_scale="token"`` gives every V row an 8-bit scale code folded into its
   kept probabilities (``golden.pv.fold_token_scale``), ``"channel"`` one
   scale (and with ``v_zero_point`` a centre) per head and channel applied to
   the output.
3. **Progressive quantization**: scores from MSB-only K (``golden.qk``), softmax
   (``golden.softmax``); a row whose largest probability code is below
   ``round(cfg.requant_threshold * 2**15)`` is recomputed once with MSB+LSB K
   (and uses MSB+LSB V). ``requant_threshold=0`` never re-fetches;
   ``progressive=False`` fetches both planes up front for every row (plain
   ``B``-bit datapath); ``lsb_bits=0`` has nothing to re-fetch.
4. **Local value pruning**: per row, the ``ceil(value_keep * n_visible)`` largest
   probabilities select the V rows fetched and multiplied (no renormalisation).
5. **prob x V** (``golden.pv``); the output codes are dequantized to float32
   (``out * s_v / 2**OUT_FRAC``); pruned heads output zeros.
6. **Importance**: token (column sums of probabilities) and head (sum of
   ``|out|``) accumulators, saturating, across heads, layers and calls.

Semantics chosen (documented for the runners): a pruned token is removed as a
key/value for all later heads, layers and generation steps; every query row
still runs (a row whose visible keys are all pruned outputs zeros). Query row
``i`` sits at position ``Lk - Lq + i`` (causal mask ``j <= Lk - Lq + i``).
New tokens (a longer K/V in ``"generate"`` mode) start alive with importance 0.

Traffic and work counters (``counters``; bytes as the fetcher reads them,
``golden.quant.row_bytes`` per row): per alive head, every alive key visible
to some row is fetched once (MSB plane; LSB plane for the keys visible to a
re-fetched row), every V row selected by some row once (MSB plane; LSB plane
for rows selected by re-fetched rows); scales as ``golden.formats`` lists them
(``dram_bytes_k_scale``, ``dram_bytes_v_scale``) and, in a call with pruned
tokens, the survivors' index list (``dram_bytes_index``). MACs count every multiply: Q x K over
visible keys (again for re-fetched rows), prob x V over kept values. The
dense baseline fetches 16-bit K and V of every token for every head and
multiplies over every causally visible key (Q x K and prob x V).

``exact=True`` is the float twin: float64 scores, softmax, value selection and
output, the same pruning rules on float importances, no quantization.
"""

from __future__ import annotations

import numpy as np

from .fetch import refetch_rows, refetch_threshold_code
from .formats import HEAD_IMPORTANCE, OUT_FRAC, PROB, TOKEN_IMPORTANCE, as_int
from .pruning import keep_count, keep_ratio, protect_mask, prune_step, sat_add, topk_rows, value_keep_count
from .pv import fold_token_scale, pv_acc, pv_output
from .qk import qk_dot, qk_float, qk_scores, score_multiplier
from .quant import TOKEN_SCALE_BITS, channel_scale, msb_only, quant_scale, quantize, row_bytes, token_scale
from .softmax import softmax_float, softmax_fx

__all__ = ["SpattenAttention", "attend_head", "head_counters", "spatten_layer", "spatten_model",
           "sequence_steps", "token_target", "head_target", "quantize_layer",
           "COUNTERS", "HEAD_COUNTERS", "DENSE_BITS"]

#: Bits per K/V element of the dense baseline.
DENSE_BITS = 16
COUNTERS = ("dram_bytes_k_msb", "dram_bytes_k_lsb", "dram_bytes_v_msb", "dram_bytes_v_lsb",
            "dram_bytes_dense", "macs_qk", "macs_pv", "macs_dense", "rows", "rows_refetched",
            "heads_run", "heads_pruned", "keys_fetched", "values_fetched", "keys_dense", "calls",
            "dram_bytes_k_scale", "dram_bytes_v_scale", "dram_bytes_index")
#: Traffic options of issue 14 and their "off" values (a cfg without them runs as before).
OPTION_DEFAULTS = {"k_scale": "tensor", "k_zero_point": False, "v_scale": "tensor", "v_zero_point": False,
                   "token_protect_sinks": 0, "token_protect_recent": 0, "token_importance_norm": False,
                   "token_keep_min": 0, "token_prune_prefill": True}
#: Bytes of one stored per-channel scale or centre (16 bits).
CHANNEL_SCALE_BYTES = 2
#: Fraction bits of the normalised token importance (importance / rows that saw the token).
NORM_FRAC = 16
_CFG_FIELDS = ("value_bits", "msb_bits", "lsb_bits", "requant_threshold", "token_prune_start",
               "token_keep_final", "head_prune_start", "head_keep_final", "value_keep", "max_context")


def _read_cfg(cfg):
    missing = [f for f in _CFG_FIELDS if not hasattr(cfg, f)]
    if missing:
        raise TypeError(f"cfg must have the attributes of SpattenConfig; missing {', '.join(missing)}")
    if cfg.msb_bits + cfg.lsb_bits != cfg.value_bits:
        raise ValueError(f"cfg.msb_bits + cfg.lsb_bits must equal cfg.value_bits ({cfg.value_bits}), "
                         f"not {cfg.msb_bits} + {cfg.lsb_bits}")
    if not 2 <= cfg.value_bits <= 16:
        raise ValueError(f"cfg.value_bits must be in 2..16, not {cfg.value_bits}")
    return cfg


def _options(cfg):
    """The traffic options of ``cfg`` (their "off" values where it has none)."""
    return {name: getattr(cfg, name, off) for name, off in OPTION_DEFAULTS.items()}


class SpattenAttention:
    """Stateful SpAtten attention over the layers of one sequence.

    Parameters
    ----------
    cfg : SpattenConfig-like
        Read by attribute (see ``notes/GOLDEN_API.md``).
    n_layers, n_heads : int
        Layers and heads of the model.
    mode : ``"summarize"`` or ``"generate"``
        ``"summarize"``: one call per layer, layers increasing, fixed ``Lk``.
        ``"generate"``: steps of calls for layers ``0..L-1``; ``Lk`` may grow.
    exact : bool
        Float twin (no quantization, float softmax), same pruning rules.
    progressive : bool
        Progressive quantization on (MSB first); off: full ``value_bits`` always.
    per_head_scale : bool
        One quantization scale per head for Q and K (V: per layer always).

    Members
    -------
    counters : dict of int
    token_alive : bool array ``(Lk,)``
    head_alive : bool array ``(n_layers, n_heads)``
    token_score, head_score : importance accumulators (int64 codes; float if exact)
    token_seen : int64 array ``(Lk,)``, query rows (over heads, layers, calls) that saw each token
    last : dict of the last call: ``refetch (H, Lq)``, ``values_kept (H, Lq)``,
        ``token_alive (Lk,)`` and ``head_alive (H,)`` as used by that layer.
    """

    def __init__(self, cfg, n_layers, n_heads, mode="summarize", *, exact=False, progressive=True,
                 per_head_scale=False):
        self._cfg = _read_cfg(cfg)
        self._opt = _options(cfg)
        self._n_layers = as_int("n_layers", n_layers)
        self._n_heads = as_int("n_heads", n_heads)
        if self._n_layers < 1 or self._n_heads < 1:
            raise ValueError(f"n_layers and n_heads must be >= 1, not {n_layers}, {n_heads}")
        if mode not in ("summarize", "generate"):
            raise ValueError(f"mode must be 'summarize' or 'generate', not {mode!r}")
        self._mode = mode
        self._exact = bool(exact)
        self._progressive = bool(progressive)
        self._per_head_scale = bool(per_head_scale)
        self.reset()

    def reset(self):
        """Forget the sequence: all tokens and heads alive, importances zero, counters zero."""
        self._token_alive = np.zeros(0, dtype=bool)
        self._token_score = np.zeros(0, dtype=np.float64 if self._exact else np.int64)
        self._token_seen = np.zeros(0, dtype=np.int64)
        self._head_alive = np.ones((self._n_layers, self._n_heads), dtype=bool)
        self._head_score = np.zeros(self._n_heads, dtype=np.float64 if self._exact else np.int64)
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._prev_layer = None
        self.last = {}

    counters = property(lambda self: dict(self._counters))
    token_alive = property(lambda self: self._token_alive.copy())
    head_alive = property(lambda self: self._head_alive.copy())
    token_score = property(lambda self: self._token_score.copy())
    token_seen = property(lambda self: self._token_seen.copy())
    head_score = property(lambda self: self._head_score.copy())
    mode = property(lambda self: self._mode)
    exact = property(lambda self: self._exact)

    # -- bookkeeping ---------------------------------------------------------

    def _check_call(self, layer, q, k, v):
        layer = as_int("layer", layer)
        if not 0 <= layer < self._n_layers:
            raise ValueError(f"layer must be in 0..{self._n_layers - 1}, not {layer}")
        q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
        if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
            raise ValueError(f"q, k, v must be (H, L, D) arrays, not {q.shape}, {k.shape}, {v.shape}")
        if not (q.shape[0] == k.shape[0] == v.shape[0] == self._n_heads):
            raise ValueError(f"q, k, v must have n_heads={self._n_heads} heads, "
                             f"not {q.shape[0]}, {k.shape[0]}, {v.shape[0]}")
        if k.shape != v.shape or q.shape[2] != k.shape[2]:
            raise ValueError(f"k and v must have one shape and q the same D, not q {q.shape}, "
                             f"k {k.shape}, v {v.shape}")
        if q.shape[1] > k.shape[1] or k.shape[1] < 1:
            raise ValueError(f"q rows ({q.shape[1]}) must be at most the keys ({k.shape[1]})")
        if k.shape[1] > self._cfg.max_context:
            raise ValueError(f"keys ({k.shape[1]}) must be at most cfg.max_context "
                             f"({self._cfg.max_context})")
        for name, x in (("q", q), ("k", k), ("v", v)):
            if not np.all(np.isfinite(x)):
                raise ValueError(f"{name} must be finite")
        prev = self._prev_layer
        if self._mode == "summarize":
            if prev is not None and layer <= prev:
                raise ValueError(f"layer must increase within a sequence ({layer} after {prev}); "
                                 f"call reset() for a new sequence")
            if self._token_alive.size and k.shape[1] != self._token_alive.size:
                raise ValueError(f"keys must stay {self._token_alive.size} in summarize mode, "
                                 f"not {k.shape[1]}; call reset() for a new sequence")
        else:
            expected = 0 if prev is None or prev == self._n_layers - 1 else prev + 1
            if layer != expected:
                raise ValueError(f"layer must be {expected} next in generate mode, not {layer}")
            if k.shape[1] < self._token_alive.size:
                raise ValueError(f"keys must not shrink in generate mode ({k.shape[1]} < "
                                 f"{self._token_alive.size}); call reset() for a new sequence")
        self._prev_layer = layer
        return layer, q, k, v

    def _grow(self, lk):
        new = lk - self._token_alive.size
        if new > 0:
            self._token_alive = np.concatenate([self._token_alive, np.ones(new, dtype=bool)])
            self._token_score = np.concatenate([self._token_score,
                                                np.zeros(new, dtype=self._token_score.dtype)])
            self._token_seen = np.concatenate([self._token_seen, np.zeros(new, dtype=np.int64)])

    def _prune(self, layer, lk, causal=False, lq=1):
        cfg, opt = self._cfg, self._opt
        target = token_target(cfg, layer, self._n_layers, lk, lq)
        protect = (protect_mask(lk, opt["token_protect_sinks"], opt["token_protect_recent"]) if causal
                   else None)
        self._token_alive = prune_step(self._rank_key(causal), self._token_alive, target, protect)
        cand = self._head_alive[layer] & (self._head_alive[layer - 1] if layer else True)
        target_h = head_target(cfg, layer, self._n_layers, self._n_heads)
        self._head_alive[layer] = prune_step(self._head_score, cand, target_h)

    def _rank_key(self, causal):
        """What token pruning ranks: the importance, or (causal, normalised) importance per row that saw it.

        A token no row has seen yet (new in generation) ranks first: there is
        nothing to judge it by.
        """
        if not (causal and self._opt["token_importance_norm"]):
            return self._token_score
        seen = self._token_seen
        if self._exact:
            return np.where(seen > 0, self._token_score / np.maximum(seen, 1), np.inf)
        key = (self._token_score << NORM_FRAC) // np.maximum(seen, 1)
        return np.where(seen > 0, key, np.iinfo(np.int64).max)

    # -- one call -------------------------------------------------------------

    def __call__(self, layer, q, k, v, causal=False):
        """Attention of layer ``layer``: ``q (H, Lq, D)``, ``k, v (H, Lk, D)`` -> ``(H, Lq, D)`` float32."""
        layer, q, k, v = self._check_call(layer, q, k, v)
        n_heads, lq, d = q.shape
        lk = k.shape[1]
        self._grow(lk)
        self._prune(layer, lk, causal, lq)
        alive, heads = self._token_alive, self._head_alive[layer]
        pos = np.arange(lq)[:, None] + (lk - lq)
        visible = np.broadcast_to(alive[None, :], (lq, lk))
        if causal:
            visible = visible & (np.arange(lk)[None, :] <= pos)
        dense_visible = (np.arange(lk)[None, :] <= pos).sum() if causal else lq * lk

        out = np.zeros((n_heads, lq, d), dtype=np.float64)
        refetch = np.zeros((n_heads, lq), dtype=bool)
        kept = np.zeros((n_heads, lq), dtype=np.int64)
        col_sum = np.zeros(lk, dtype=self._token_score.dtype)
        c = self._counters
        if heads.any():
            prep = self._prepare(q, k, v, heads)
            for h in np.flatnonzero(heads):
                res = self._head(h, prep, visible)
                out[h], refetch[h], kept[h] = res["out"], res["refetch"], res["kept"].sum(axis=1)
                col_sum = col_sum + res["prob"].sum(axis=0)
                self._count_head(res, visible, d)
                self._token_seen += np.where(alive, visible.sum(axis=0), 0)
                self._head_score[h] = self._add_head_score(self._head_score[h], res["out_code"])
        if self._exact:
            self._token_score = self._token_score + np.where(alive, col_sum, 0.0)
        else:
            self._token_score = sat_add(self._token_score, np.where(alive, col_sum, 0),
                                        TOKEN_IMPORTANCE)
        c["calls"] += 1
        if not alive.all() and heads.any():
            # The survivors' index list (index_bits each), read once per layer by the fetcher.
            index_bits = max(1, (self._cfg.max_context - 1).bit_length())
            c["dram_bytes_index"] += (int(alive.sum()) * index_bits + 7) // 8
        c["rows"] += int(heads.sum()) * lq
        c["rows_refetched"] += int(refetch.sum())
        c["heads_run"] += int(heads.sum())
        c["heads_pruned"] += int((~heads).sum())
        c["dram_bytes_dense"] += 2 * n_heads * lk * row_bytes(d, DENSE_BITS)
        c["keys_dense"] += n_heads * lk
        c["macs_dense"] += 2 * n_heads * int(dense_visible) * d
        self.last = {"refetch": refetch, "values_kept": kept, "token_alive": alive.copy(),
                     "head_alive": heads.copy(), "layer": layer}
        return out.astype(np.float32)

    def _add_head_score(self, acc, out_code):
        if self._exact:
            return acc + float(np.abs(out_code).sum())
        return int(sat_add(np.array([acc]), np.array([np.abs(out_code).sum()]), HEAD_IMPORTANCE)[0])

    def _prepare(self, q, k, v, heads):
        """Quantize a layer (codes, planes, scales); the float twin keeps floats."""
        if self._exact:
            return {"q": q, "k": k, "v": v}
        return quantize_layer(self._cfg, q, k, v, heads, per_head_scale=self._per_head_scale)

    def _head(self, h, prep, visible):
        if self._exact:
            return self._head_float(h, prep, visible)
        m, sh = prep["mult"][h]
        codes = None if prep["v_codes"] is None else prep["v_codes"][h]
        res = attend_head(prep["q"][h], prep["k"][h], prep["v"][h], m, sh, visible, self._cfg,
                          progressive=self._progressive, v_token_scale=codes)
        sv = prep["sv"] if np.ndim(prep["sv"]) == 0 else prep["sv"][h]
        res["out"] = res["out_code"] * (sv / (1 << OUT_FRAC))
        if prep["v_centre"] is not None:
            # Per-channel V centres: out += centre * (sum of the kept probabilities).
            p_sum = np.where(res["kept"], res["prob"], 0).sum(axis=1, keepdims=True)
            res["out"] = res["out"] + prep["v_centre"][h] * (p_sum / (1 << PROB.frac))
        return res

    def _head_float(self, h, prep, visible):
        cfg = self._cfg
        prob = softmax_float(np.where(visible, qk_float(prep["q"][h], prep["k"][h]), 0.0), visible)
        kept = topk_rows(prob, value_keep_count(cfg.value_keep, visible.sum(axis=1)), visible)
        out = np.where(kept, prob, 0.0) @ prep["v"][h]
        return {"out": out, "out_code": out, "prob": prob, "kept": kept, "two_pass": False,
                "refetch": np.zeros(visible.shape[0], dtype=bool)}

    def _count_head(self, res, visible, d):
        c = self._counters
        for name, value in head_counters(res, visible, d, self._cfg).items():
            c[name] += value
        vals = res["kept"].any(axis=0)
        opt = self._opt
        if opt["k_scale"] == "channel":
            c["dram_bytes_k_scale"] += CHANNEL_SCALE_BYTES * d
        if opt["v_scale"] == "token":
            c["dram_bytes_v_scale"] += int(vals.sum()) * (TOKEN_SCALE_BITS // 8)
        elif opt["v_scale"] == "channel":
            c["dram_bytes_v_scale"] += CHANNEL_SCALE_BYTES * d * (2 if opt["v_zero_point"] else 1)


def token_target(cfg, layer, n_layers, lk, lq):
    """Tokens layer ``layer`` of ``n_layers`` keeps of ``lk`` in a call of ``lq`` query rows.

    ``keep_count(keep_ratio(...), lk)`` of the token schedule, at least
    ``min(lk, cfg.token_keep_min)``, and all ``lk`` in a call of several rows
    when ``cfg.token_prune_prefill`` is false: a layer command's ``token_keep``.
    """
    opt = _options(cfg)
    target = keep_count(keep_ratio(layer, n_layers, cfg.token_prune_start, cfg.token_keep_final), lk)
    target = max(target, min(lk, opt["token_keep_min"]))
    if lq > 1 and not opt["token_prune_prefill"]:
        target = lk
    return target


def head_target(cfg, layer, n_layers, n_heads):
    """Heads layer ``layer`` of ``n_layers`` keeps of ``n_heads``: a layer command's ``head_keep``."""
    return keep_count(keep_ratio(layer, n_layers, cfg.head_prune_start, cfg.head_keep_final), n_heads)


def quantize_layer(cfg, q, k, v, heads, per_head_scale=False):
    """Quantize one layer call as the host does: float ``q (H, Lq, D)``, ``k, v (H, Lk, D)`` -> a dict.

    ``q``, ``k``, ``v``: ``cfg.value_bits`` codes; ``mult``: per head the score
    scale ``(m, sh)`` (:func:`golden.qk.score_multiplier`), ``None`` where
    ``heads`` (bool ``(H,)``) is false; ``sv``: the V scale (a float, or
    ``(H, 1, D)`` per channel, or with ``v_scale="token"`` the unit of the
    per-row codes ``v_codes (H, Lk)``); ``v_centre``: per-channel V centres
    or ``None``. The traffic options ``k_scale`` / ``k_zero_point`` act here
    (host side: Q carries the K scales, K is centred); ``v_scale`` and
    ``v_zero_point`` choose ``sv`` / ``v_codes`` / ``v_centre``.
    """
    q, k, v = (np.asarray(x, dtype=np.float64) for x in (q, k, v))
    bits, opt = cfg.value_bits, _options(cfg)
    if opt["k_scale"] == "channel":
        # (q * s_k) . k_code: the per-channel K scale folds into Q (one multiply per Q
        # element), and the K centre's term q . centre is the same for every key of a
        # row, so the softmax cancels it: K is quantized about its centre, and that is all.
        sk_c, centre = channel_scale(k, bits, zero_point=opt["k_zero_point"])
        ki = quantize(k - centre, sk_c, bits)
        q = q * sk_c
        sk = np.ones(q.shape[0])
    else:
        sk = quant_scale(k, bits, per_head=per_head_scale)
        ki = quantize(k, sk, bits)
    sq = quant_scale(q, bits, per_head=per_head_scale)
    qi = quantize(q, sq, bits)
    prep = {"q": qi, "k": ki, "v_codes": None, "v_centre": None}
    if opt["v_scale"] == "token":
        codes, unit = token_scale(v, bits)
        prep["v"] = quantize(v, codes[..., None] * unit, bits)
        prep["v_codes"], prep["sv"] = codes, unit * (1 << TOKEN_SCALE_BITS)
    elif opt["v_scale"] == "channel":
        sv_c, prep["v_centre"] = channel_scale(v, bits, zero_point=opt["v_zero_point"])
        prep["v"], prep["sv"] = quantize(v - prep["v_centre"], sv_c, bits), sv_c
    else:
        prep["sv"] = quant_scale(v, bits)
        prep["v"] = quantize(v, prep["sv"], bits)
    sq = np.broadcast_to(sq, (q.shape[0],))
    sk = np.broadcast_to(sk, (q.shape[0],))
    prep["mult"] = [score_multiplier(sq[h], sk[h], q.shape[2]) if heads[h] else None
                    for h in range(q.shape[0])]
    return prep


HEAD_COUNTERS = ("dram_bytes_k_msb", "dram_bytes_k_lsb", "dram_bytes_v_msb", "dram_bytes_v_lsb",
                 "keys_fetched", "values_fetched", "macs_qk", "macs_pv")


def head_counters(res, visible, d, cfg, row_d=None):
    """The traffic and work of one head (:data:`HEAD_COUNTERS`), from :func:`attend_head`'s result.

    ``row_d``: elements per DRAM row (default ``d``; a core whose rows are
    ``cfg.head_dim`` wide reads that many per row whatever ``d``).
    """
    row_d = d if row_d is None else row_d
    keys = visible.any(axis=0)
    keys_lsb = visible[res["refetch"]].any(axis=0)
    vals = res["kept"].any(axis=0)
    vals_lsb = res["kept"][res["refetch"]].any(axis=0)
    if not res["two_pass"]:
        # Both planes fetched up front (or the float twin, counted at value_bits).
        keys_lsb, vals_lsb = keys, vals
    msb = row_bytes(row_d, cfg.msb_bits)
    lsb = row_bytes(row_d, cfg.lsb_bits) if cfg.lsb_bits else 0
    return {"dram_bytes_k_msb": int(keys.sum()) * msb, "dram_bytes_k_lsb": int(keys_lsb.sum()) * lsb,
            "dram_bytes_v_msb": int(vals.sum()) * msb, "dram_bytes_v_lsb": int(vals_lsb.sum()) * lsb,
            "keys_fetched": int(keys.sum()), "values_fetched": int(vals.sum()),
            "macs_qk": (int(visible.sum()) + int(visible[res["refetch"]].sum())) * d,
            "macs_pv": int(res["kept"].sum()) * d}


def attend_head(q, k, v, m, sh, visible, cfg, progressive=True, *, v_token_scale=None):
    """One head on integer codes, as the hardware computes it.

    ``q (Lq, D)``, ``k, v (Lk, D)``: full ``cfg.value_bits`` codes (the DRAM planes
    joined); ``(m, sh)`` from :func:`golden.qk.score_multiplier`; ``visible (Lq, Lk)``
    bool. ``v_token_scale (Lk,)``: per-token V scale codes
    (:func:`golden.quant.token_scale`), folded into the kept probabilities before
    prob x V (:func:`golden.pv.fold_token_scale`); importances use the unfolded
    probabilities. Returns a dict: ``scores`` (of the final pass), ``prob``, ``refetch (Lq,)``,
    ``kept (Lq, Lk)`` (V rows selected), ``out_code (Lq, D)``, ``two_pass``.
    """
    bits, lsb = cfg.value_bits, cfg.lsb_bits
    visible = np.asarray(visible, dtype=bool)
    if visible.shape != (np.shape(q)[0], np.shape(k)[0]):
        raise ValueError(f"visible must have shape (Lq, Lk) = {(np.shape(q)[0], np.shape(k)[0])}, "
                         f"not {visible.shape}")
    two_pass = progressive and lsb > 0
    k_first = msb_only(np.asarray(k) >> lsb, lsb) if two_pass else k
    scores = qk_scores(qk_dot(q, k_first, bits), m, sh)
    prob = softmax_fx(scores, visible)
    refetch = np.zeros(visible.shape[0], dtype=bool)
    if two_pass:
        refetch = refetch_rows(prob.max(axis=1), visible.any(axis=1),
                               refetch_threshold_code(cfg.requant_threshold))
        if refetch.any():
            rows = np.flatnonzero(refetch)
            scores[rows] = qk_scores(qk_dot(np.asarray(q)[rows], k, bits), m, sh)
            prob[rows] = softmax_fx(scores[rows], visible[rows])
    if cfg.value_keep >= 1.0:
        kept = visible.copy()       # every visible V row (what topk_rows gives, without its sort)
    else:
        kept = topk_rows(prob, value_keep_count(cfg.value_keep, visible.sum(axis=1)), visible)
    p_kept = np.where(kept, prob, 0)
    if v_token_scale is not None:
        p_kept = fold_token_scale(p_kept, v_token_scale, TOKEN_SCALE_BITS)
    v_first = msb_only(np.asarray(v) >> lsb, lsb) if two_pass else v
    acc = pv_acc(p_kept, v_first, bits)
    if refetch.any():
        acc[refetch] = pv_acc(p_kept[refetch], v, bits)
    return {"scores": scores, "prob": prob, "refetch": refetch, "kept": kept,
            "out_code": pv_output(acc, bits), "two_pass": two_pass}


def spatten_layer(q, k, v, cfg, *, layer=0, n_layers=1, causal=False, exact=False, progressive=True):
    """One layer on a fresh state: a dict of ``out``, ``token_alive``, ``head_alive``,
    ``refetch``, ``values_kept`` and ``counters``."""
    q = np.asarray(q)
    att = SpattenAttention(cfg, n_layers, q.shape[0] if q.ndim == 3 else 0, "summarize",
                           exact=exact, progressive=progressive)
    out = att(layer, q, k, v, causal=causal)
    return {"out": out, "token_alive": att.last["token_alive"], "head_alive": att.last["head_alive"],
            "refetch": att.last["refetch"], "values_kept": att.last["values_kept"],
            "counters": att.counters}


def sequence_steps(q_layers, k_layers, v_layers, mode, prompt_len=None):
    """The shape ``(n_layers, H, L, D)`` of a sequence's Q/K/V lists and its steps ``[(lo, hi)]``.

    ``"summarize"``: one step of all ``L`` rows; ``"generate"``: the first
    ``prompt_len`` rows (default all), then one step per further token. The
    schedule of :func:`spatten_model`, which the host driver runs too.
    """
    n_layers = len(q_layers)
    if not n_layers or len(k_layers) != n_layers or len(v_layers) != n_layers:
        raise ValueError(f"q_layers, k_layers, v_layers must be equally long non-empty lists, "
                         f"not {len(q_layers)}, {len(k_layers)}, {len(v_layers)}")
    shape = np.shape(q_layers[0])
    if len(shape) != 3:
        raise ValueError(f"q_layers[0] must be (H, L, D), not {shape}")
    n_heads, length, d = shape
    if mode == "summarize":
        steps = [(0, length)]
    elif mode == "generate":
        prompt_len = length if prompt_len is None else as_int("prompt_len", prompt_len)
        if not 1 <= prompt_len <= length:
            raise ValueError(f"prompt_len must be in 1..{length}, not {prompt_len}")
        steps = [(0, prompt_len)] + [(t, t + 1) for t in range(prompt_len, length)]
    else:
        raise ValueError(f"mode must be 'summarize' or 'generate', not {mode!r}")
    return (n_layers, n_heads, length, d), steps


def spatten_model(q_layers, k_layers, v_layers, cfg, mode="summarize", *, causal=True,
                  prompt_len=None, exact=False, progressive=True):
    """Run all layers of one sequence from given Q/K/V (each a list of ``(H, L, D)`` per layer).

    ``"summarize"``: one call per layer over all ``L`` rows. ``"generate"``: the
    first ``prompt_len`` tokens summarised (rows and keys ``0..prompt_len-1``),
    then one step per further token ``t`` (row ``t``, keys ``0..t``), every step
    through all layers. Returns a dict: ``outputs`` (list per layer of
    ``(H, L, D)`` float32), ``token_alive`` (bool ``(n_layers, L)``: the keys each
    layer used in its last call), ``head_alive`` (``(n_layers, H)``), ``refetch``
    (list per layer of ``(H, L)`` bool: the rows that re-fetched LSBs), ``counters`` and
    ``counters_prompt`` (the counters after the prompt, i.e. of the summarisation part).
    """
    (n_layers, n_heads, length, d), steps = sequence_steps(q_layers, k_layers, v_layers, mode, prompt_len)
    att = SpattenAttention(cfg, n_layers, n_heads, mode, exact=exact, progressive=progressive)
    outputs = [np.zeros((n_heads, length, d), dtype=np.float32) for _ in range(n_layers)]
    refetch = [np.zeros((n_heads, length), dtype=bool) for _ in range(n_layers)]
    used = np.zeros((n_layers, length), dtype=bool)
    prompt_counters = None
    for lo, hi in steps:
        if lo and prompt_counters is None:
            prompt_counters = att.counters
        for layer in range(n_layers):
            out = att(layer, np.asarray(q_layers[layer])[:, lo:hi], np.asarray(k_layers[layer])[:, :hi],
                      np.asarray(v_layers[layer])[:, :hi], causal=causal)
            outputs[layer][:, lo:hi] = out
            refetch[layer][:, lo:hi] = att.last["refetch"]
            used[layer] = False
            used[layer, :hi] = att.last["token_alive"]
    return {"outputs": outputs, "token_alive": used, "head_alive": att.head_alive,
            "refetch": refetch, "counters": att.counters,
            "counters_prompt": prompt_counters or att.counters}
