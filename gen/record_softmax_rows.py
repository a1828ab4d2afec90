"""Record rows of real attention scores (S10.8 codes) for the softmax unit's tests.

``python -m gen.record_softmax_rows`` runs MiniLM (on the reference texts of
``tests/data/ref_minilm.npz``) and SmolLM2 (on the prompt of
``tests/data/ref_smollm2.npz``) through :class:`golden.spatten.SpattenAttention`
at the ``ulx3s`` preset, catches every row of scores that reaches
:func:`golden.softmax.softmax_fx` (its visible keys only), and keeps a seeded
sample in ``tests/data/softmax_rows.npz``: ``scores`` (rows padded with 0),
``lengths`` and ``source`` (model, text, query row).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "softmax_rows.npz"


def capture(run):
    """Rows ``(scores, label)`` given to ``golden.spatten``'s softmax while ``run(label_box)`` runs."""
    import golden.spatten as spatten

    rows, box, original = [], {"label": ""}, spatten.softmax_fx

    def recording(scores, mask=None, fmt=None):
        s = np.asarray(scores)
        m = np.ones(s.shape, bool) if mask is None else np.broadcast_to(mask, s.shape)
        for index in np.ndindex(s.shape[:-1]):
            rows.append((s[index][m[index]].astype(np.int64), f"{box['label']} row {index}"))
        return original(scores, mask) if fmt is None else original(scores, mask, fmt)

    spatten.softmax_fx = recording
    try:
        run(box)
    finally:
        spatten.softmax_fx = original
    return rows


def record(per_model, seed, out):
    from gen.config import preset
    from golden.models import MiniLM, SmolLM2
    from golden.spatten import SpattenAttention

    cfg = preset("ulx3s")
    data = ROOT / "tests" / "data"
    rng = np.random.default_rng(seed)
    kept = []
    enc = MiniLM()
    ids = np.load(data / "ref_minilm.npz")["ids"]

    def run_minilm(box):
        for number, row in enumerate(ids[:2]):
            box["label"] = f"MiniLM text {number}"
            enc.hidden_states(row[row >= 0], SpattenAttention(cfg, enc.n_layers, enc.n_heads))

    dec = SmolLM2()

    def run_smollm2(box):
        box["label"] = "SmolLM2 prompt"
        dec.forward(np.load(data / "ref_smollm2.npz")["ids"],
                    SpattenAttention(cfg, dec.n_layers, dec.n_heads))

    for run in (run_minilm, run_smollm2):
        rows = capture(run)
        for i in sorted(rng.choice(len(rows), size=min(per_model, len(rows)), replace=False)):
            kept.append(rows[i])
    width = max(len(s) for s, _ in kept)
    scores = np.zeros((len(kept), width), dtype=np.int32)
    for i, (s, _) in enumerate(kept):
        scores[i, :len(s)] = s
    np.savez_compressed(out, scores=scores, lengths=np.array([len(s) for s, _ in kept]),
                        source=np.array([label for _, label in kept]))
    print(f"{out}: {len(kept)} rows, lengths {min(len(s) for s, _ in kept)}..{width}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gen.record_softmax_rows",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200, help="rows kept per model")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    record(args.rows, args.seed, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
