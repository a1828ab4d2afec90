"""Golden model report: error of each fixed-point stage, and DRAM traffic of pruned vs dense runs.

Writes ``<out>/reports/golden_accuracy.json`` (quantization, Q x K scores,
softmax, prob x V and end-to-end attention output against float, on random
inputs and on GPT-2-small shapes: D=64, L=993, 12 heads) and
``<out>/reports/golden_traffic.json`` (counters of ``golden.spatten`` on 12
layers x 12 heads x 993 tokens then 31 generation steps, as in the SpAtten
release's GPT-2 trace, for pruning only, progressive quantization only, and
both, against the dense 16-bit baseline). Inputs are synthetic (seeded):
Gaussian Q/K/V plus a shared direction that makes a few tokens heavily
attended (attention-sink-like), so rows range from flat to peaked.

Run: ``python -m gen.golden_report [--out build] [--quick]`` (about 3 minutes on
one core; ``--quick`` shrinks the shapes for a smoke run).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["synthetic_layer", "accuracy", "traffic", "render", "main"]

WORKLOAD = Path(__file__).resolve().parents[2] / "shared" / "workloads" / "gpt2-small-wikitext2-per8.csv"
GPT2 = {"n_layers": 12, "n_heads": 12, "length": 993, "head_dim": 64, "gen_steps": 31}
QUICK = {"n_layers": 4, "n_heads": 2, "length": 96, "head_dim": 16, "gen_steps": 4}


def synthetic_layer(rng, n_heads, length, head_dim, sigma=1.2, beta=3.5):
    """Q, K, V ``(H, L, D)``: Gaussian plus a per-head direction that a few tokens (and token 0) carry."""
    strength = rng.lognormal(0.0, 1.0, length)
    strength[0] = 12.0
    u = rng.normal(size=(n_heads, head_dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    k = rng.normal(size=(n_heads, length, head_dim)) * sigma + strength[None, :, None] * u[:, None, :]
    gain = rng.lognormal(0.0, 0.5, (n_heads, length, 1))
    q = rng.normal(size=(n_heads, length, head_dim)) * sigma + beta * gain * u[:, None, :]
    v = rng.normal(size=(n_heads, length, head_dim))
    return q, k, v


def _stats(err, ref=None):
    err = np.abs(np.asarray(err, dtype=np.float64))
    out = {"max_abs": float(err.max()), "rms": float(np.sqrt(np.mean(err ** 2)))}
    if ref is not None:
        out["max_rel_to_max"] = float(err.max() / max(np.abs(ref).max(), 1e-300))
    return out


def _quant_stage(x, cfg):
    from golden.quant import dequantize, msb_only, quant_scale, quantize, split_planes

    bits = cfg.value_bits
    s = quant_scale(x, bits)
    q = quantize(x, s, bits)
    out = {"full": _stats(dequantize(q, s) - x, x)}
    for msb in (4, 6, 8, 12):
        b = msb + 4
        s_b = quant_scale(x, b)
        q_b = quantize(x, s_b, b)
        hi, _ = split_planes(q_b, msb, 4)
        out[f"msb{msb}_only"] = {
            "bits": b,
            "half_lsb_bias": _stats(dequantize(msb_only(hi, 4), s_b) - x, x),
            "zero_fill": _stats(dequantize(hi << 4, s_b) - x, x),
            "mean_err_lsb_bias": float((msb_only(hi, 4) - q_b).mean()),
            "mean_err_lsb_zero": float(((hi << 4) - q_b).mean()),
        }
    return out


def _attention_stage(q, k, v, cfg):
    """Q x K, softmax, prob x V and end-to-end errors on one layer (all heads, causal)."""
    from golden.formats import OUT_FRAC, PROB, SCORE, to_float
    from golden.pv import pv
    from golden.qk import qk_dot, qk_float, qk_scores, score_multiplier
    from golden.quant import dequantize, msb_only, quant_scale, quantize
    from golden.softmax import softmax_float, softmax_fx

    bits, lsb = cfg.value_bits, cfg.lsb_bits
    length = q.shape[1]
    mask = np.broadcast_to(np.tril(np.ones((length, length), dtype=bool)), (q.shape[0], length, length))
    sq, sk, sv = quant_scale(q, bits), quant_scale(k, bits), quant_scale(v, bits)
    qi, ki, vi = quantize(q, sq, bits), quantize(k, sk, bits), quantize(v, sv, bits)
    m, sh = score_multiplier(sq, sk, q.shape[2])
    ref = qk_float(q, k)
    res = {}
    for name, kk in (("full", ki), (f"msb{cfg.msb_bits}_only", msb_only(ki >> lsb, lsb))):
        s = qk_scores(qk_dot(qi, kk, bits), m, sh)
        sf = to_float(s, SCORE)
        same = qk_float(dequantize(qi, sq), dequantize(kk, sk))
        res[f"qk_{name}"] = {"vs_float_same_codes": _stats((sf - same)[mask]),
                             "vs_float_unquantized": _stats((sf - ref)[mask])}
    s = qk_scores(qk_dot(qi, ki, bits), m, sh)
    p = softmax_fx(s, mask)
    pf = softmax_float(to_float(s, SCORE), mask)
    res["softmax_vs_float_same_scores"] = _stats(p / (1 << PROB.frac) - pf)
    out = pv(p, vi, bits)
    out_same = (p / (1 << PROB.frac)) @ vi
    res["pv_vs_float_same_codes_lsb"] = _stats(out / (1 << OUT_FRAC) - out_same)
    exact = softmax_float(np.where(mask, ref, 0.0), mask) @ v
    res["output_vs_float_attention"] = _stats(out * sv / (1 << OUT_FRAC) - exact, exact)
    return res


def _softmax_stage(rng, n_rows):
    from golden.formats import PROB, SCORE, to_fixed, to_float
    from golden.softmax import SoftmaxFormat, softmax_float, softmax_fx

    one = 1 << PROB.frac
    rows = []
    for spread in (0.3, 2.0, 8.0, 40.0):
        for n in (8, 128, 1024):
            s = to_fixed(rng.normal(0.0, spread, (n_rows, n)), SCORE)
            p = softmax_fx(s)
            pf = softmax_float(to_float(s, SCORE))
            rows.append({"spread": spread, "n": n, "max_abs": float(np.abs(p / one - pf).max()),
                         "max_sum_dev": float(np.abs(p.sum(-1) / one - 1).max()),
                         "above_one": int((p > one).sum()),
                         "argmax_kept": float(np.mean(p[np.arange(n_rows), s.argmax(-1)] == p.max(-1)))})
    worst = 0.0
    for level in np.arange(-16.0, -9.0, 1 / 16):
        s = np.full((1, 1024), int(level * 256))
        s[0, 0] = 0
        worst = max(worst, float(np.abs(softmax_fx(s) / one - softmax_float(to_float(s, SCORE))).max()))
    s = to_fixed(rng.normal(0.0, 3.0, (n_rows, 256)), SCORE)
    ref = softmax_float(to_float(s, SCORE))
    choices = []
    for b, interp in ((4, False), (6, False), (8, False), (10, False), (4, True), (5, True), (6, True)):
        fmt = SoftmaxFormat(index_bits=b, interpolate=interp)
        choices.append({"index_bits": b, "interpolate": interp, "entries": (1 << b) + 1,
                        "max_abs": float(np.abs(softmax_fx(s, fmt=fmt) / one - ref).max())})
    return {"random_rows": rows, "adversarial_max_abs": worst, "table_choices": choices}


def accuracy(seed=1, quick=False):
    """The accuracy report (a dict)."""
    from golden import formats
    from golden.softmax import softmax_widths

    from .config import preset

    cfg = preset("paper")
    shapes = QUICK if quick else GPT2
    rng = np.random.default_rng(seed)
    report = {"kind": "accuracy", "seed": seed, "config": "paper", "quick": quick,
              "formats": {"rounding": formats.ROUNDING, "score": str(formats.SCORE),
                          "prob": str(formats.PROB), "out_frac": formats.OUT_FRAC,
                          "value_bits": cfg.value_bits, "msb_bits": cfg.msb_bits,
                          "lsb_bits": cfg.lsb_bits, "token_importance": str(formats.TOKEN_IMPORTANCE),
                          "head_importance_bits": formats.HEAD_IMPORTANCE.bits,
                          "softmax_widths": softmax_widths(cfg.max_context)},
              "datasets": {}}
    rand = [rng.normal(size=(4, 128 if not quick else 32, 64)) for _ in range(3)]
    gpt = synthetic_layer(rng, shapes["n_heads"], shapes["length"], shapes["head_dim"])
    for name, (q, k, v) in (("random", rand), ("gpt2_shapes", gpt)):
        report["datasets"][name] = {
            "shape": list(q.shape),
            "quant_k": _quant_stage(k, cfg), "quant_v": _quant_stage(v, cfg),
            **_attention_stage(q, k, v, cfg)}
    report["softmax"] = _softmax_stage(rng, 20 if quick else 200)
    return report


def _trace_summary(path):
    """Aggregates of the release's GPT-2 trace (generation iterations)."""
    if not Path(path).exists():
        return None
    keys = values = dense = requant = rows = bytes_ = dense_bytes = 0
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if not r["iteration_id"] or not r["iteration_id"].isdigit() or r["iteration_id"] == "0":
                continue
            d, n = int(float(r["embedding_length_D"])), int(r["sentence_length_L"])
            kb, vb = int(r["quant_key_bit"]), int(r["quant_value_bit"])
            k_n, v_n = int(r["key_fetch_num"]), int(r["value_fetch_num"])
            re = r["if_requant"] == "True"
            keys, values, dense, rows = keys + k_n, values + v_n, dense + n, rows + 1
            requant += re
            inc = int(r["auto_requant_incre"]) if re else 0
            bytes_ += (k_n * (kb + inc) + v_n * (vb + inc)) * d / 8
            dense_bytes += n * d * 2 * 2        # 16-bit K and V of every token
    return {"rows": rows, "keys_fetched_fraction": keys / dense, "values_fetched_fraction": values / dense,
            "requant_fraction": requant / rows, "dram_reduction_x": dense_bytes / bytes_}


def _run(cfg, layers, shapes, progressive):
    from golden.spatten import spatten_model

    q, k, v = layers
    res = spatten_model(q, k, v, cfg, mode="generate", causal=True,
                        prompt_len=shapes["length"], progressive=progressive)
    total, prompt = res["counters"], res["counters_prompt"]
    return {"prompt": prompt, "generation": {k: total[k] - prompt[k] for k in total}, "total": total}


def _summary(c):
    fetched = c["dram_bytes_k_msb"] + c["dram_bytes_k_lsb"] + c["dram_bytes_v_msb"] + c["dram_bytes_v_lsb"]
    return {**c, "dram_bytes_total": fetched,
            "dram_reduction_x": c["dram_bytes_dense"] / max(fetched, 1),
            "mac_reduction_x": c["macs_dense"] / max(c["macs_qk"] + c["macs_pv"], 1),
            "refetch_fraction": c["rows_refetched"] / max(c["rows"], 1)}


def traffic(seed=2, quick=False, workload=WORKLOAD):
    """The traffic report (a dict): prompt + generation steps, per variant."""
    from .config import preset

    shapes = QUICK if quick else GPT2
    total = shapes["length"] + shapes["gen_steps"]
    rng = np.random.default_rng(seed)
    per_layer = [synthetic_layer(rng, shapes["n_heads"], total, shapes["head_dim"])
                 for _ in range(shapes["n_layers"])]
    layers = tuple([x[i] for x in per_layer] for i in range(3))
    paper = preset("paper")
    no_prune = dict(token_keep_final=1.0, head_keep_final=1.0, value_keep=1.0)
    variants = {
        "pruning_only": (paper, False),
        "quantization_only": (dataclasses.replace(paper, **no_prune), True),
        "spatten": (paper, True),
    }
    report = {"kind": "traffic", "seed": seed, "quick": quick, "shapes": shapes, "config": "paper",
              "variants": {}, "trace": _trace_summary(workload)}
    for name, (cfg, progressive) in variants.items():
        report["variants"][name] = {part: _summary(c)
                                    for part, c in _run(cfg, layers, shapes, progressive).items()}
    return report


def _f(x, digits=3):
    return f"{x:.{digits}g}" if isinstance(x, float) else str(x)


def _render_accuracy(r):
    lines = [f"Formats: rounding {r['formats']['rounding']}, score {r['formats']['score']}, "
             f"probability {r['formats']['prob']}, output {r['formats']['out_frac']} fraction bits on "
             f"V's grid, K/V {r['formats']['value_bits']} bits "
             f"({r['formats']['msb_bits']}+{r['formats']['lsb_bits']}).", "",
             "| stage (vs float) | dataset | max abs | rms | max / max ref |",
             "| --- | --- | ---: | ---: | ---: |"]
    for ds, d in sorted(r["datasets"].items()):
        rows = [("K quantization (12 bit)", d["quant_k"]["full"]),
                ("V quantization (12 bit)", d["quant_v"]["full"])]
        rows += [(f"K {k} ({v['bits']} bit), half-LSB bias", v["half_lsb_bias"])
                 for k, v in d["quant_k"].items() if k != "full"]
        rows += [(f"K {k}, zero fill", v["zero_fill"]) for k, v in d["quant_k"].items() if k != "full"]
        rows += [(f"Q x K score, {k[3:]} K (vs same codes)", v["vs_float_same_codes"])
                 for k, v in d.items() if k.startswith("qk_")]
        rows += [(f"Q x K score, {k[3:]} K (vs unquantized)", v["vs_float_unquantized"])
                 for k, v in d.items() if k.startswith("qk_")]
        rows += [("softmax (vs same scores)", d["softmax_vs_float_same_scores"]),
                 ("prob x V, V LSBs (vs same codes)", d["pv_vs_float_same_codes_lsb"]),
                 ("attention output (vs float attention)", d["output_vs_float_attention"])]
        for name, s in rows:
            lines.append(f"| {name} | {ds} {tuple(d['shape'])} | {_f(s['max_abs'])} | {_f(s['rms'])} "
                         f"| {_f(s.get('max_rel_to_max', '–'))} |")
    sm = r["softmax"]
    worst = max(x["max_abs"] for x in sm["random_rows"])
    lines += ["", f"Softmax on random rows (n = 8..1024, spreads 0.3..40): max abs error {_f(worst)}, "
              f"adversarial rows {_f(sm['adversarial_max_abs'])}, probabilities above 1: "
              f"{sum(x['above_one'] for x in sm['random_rows'])}, argmax kept: "
              f"{min(x['argmax_kept'] for x in sm['random_rows']):.3f}.", "",
              "| exp table | entries | softmax max abs error |", "| --- | ---: | ---: |"]
    for c in sm["table_choices"]:
        lines.append(f"| {c['index_bits']} index bits{', interpolated' if c['interpolate'] else ''} "
                     f"| {c['entries']} | {_f(c['max_abs'])} |")
    return "\n".join(lines)


def _render_traffic(r):
    s = r["shapes"]
    lines = [f"{s['n_layers']} layers x {s['n_heads']} heads, D={s['head_dim']}, {s['length']}-token "
             f"prompt then {s['gen_steps']} generation steps (synthetic inputs, seed {r['seed']}).", "",
             "| variant | phase | DRAM bytes | dense bytes | DRAM reduction | MAC reduction "
             "| rows re-fetched |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, parts in sorted(r["variants"].items()):
        for part in ("prompt", "generation", "total"):
            v = parts[part]
            lines.append(f"| {name} | {part} | {v['dram_bytes_total']} | {v['dram_bytes_dense']} "
                         f"| {v['dram_reduction_x']:.2f}x | {v['mac_reduction_x']:.2f}x "
                         f"| {v['refetch_fraction']:.3f} |")
    t = r.get("trace")
    if t:
        lines += ["", "Release GPT-2 trace, generation steps: keys fetched "
                  f"{t['keys_fetched_fraction']:.3f}, values fetched "
                  f"{t['values_fetched_fraction']:.3f} of dense, LSB re-fetch in "
                  f"{t['requant_fraction']:.3f} of heads, implied DRAM reduction "
                  f"{t['dram_reduction_x']:.2f}x."]
    return "\n".join(lines)


def render(report):
    """Markdown for a ``golden_accuracy.json`` or ``golden_traffic.json`` report."""
    kind = report.get("kind")
    if kind == "accuracy":
        return _render_accuracy(report)
    if kind == "traffic":
        return _render_traffic(report)
    raise ValueError(f"report kind must be 'accuracy' or 'traffic', not {kind!r}")


def _parser():
    parser = argparse.ArgumentParser(prog="python -m gen.golden_report",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build", help="build folder (reports in OUT/reports/)")
    parser.add_argument("--quick", action="store_true", help="small shapes (smoke run)")
    parser.add_argument("--workload", default=str(WORKLOAD), help="release GPT-2 trace CSV (optional)")
    parser.add_argument("--only", choices=("accuracy", "traffic"), help="write one report only")
    return parser


def main(argv=None):
    """Write the reports; ``argv`` is an argument list (None: ``sys.argv[1:]``)."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    folder = Path(args.out) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if args.only in (None, "accuracy"):
        written.append(("golden_accuracy", accuracy(quick=args.quick)))
    if args.only in (None, "traffic"):
        written.append(("golden_traffic", traffic(quick=args.quick, workload=args.workload)))
    for name, report in written:
        path = folder / f"{name}.json"
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")
        print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
