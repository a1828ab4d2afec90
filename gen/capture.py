"""Capture real Q/K/V for the core's tests: ``python -m gen capture [--out DIR] [--models a,b]``.

Runs :data:`TEXT` through MiniLM and SmolLM2 (:func:`golden.models.capture.capture_qkv`)
and writes ``<out>/qkv_<model>.npz`` (default ``tests/data``): :data:`LAYERS`
layers (first, middle, last), :data:`HEADS` heads spread over the model's heads,
:data:`TOKENS` tokens, Q/K/V as float16, with the text, token ids and indices
taken. Loading the two models takes about a minute.
"""

import sys
from pathlib import Path

from .cli import OneLineParser, UsageError

__all__ = ["main", "TEXT", "LAYERS", "HEADS", "TOKENS"]

TEXT = ("The old lighthouse keeper climbed the narrow stairs every evening at dusk, "
        "lit the great lamp, and watched the fishing boats return safely to the harbour.")
LAYERS = 3
HEADS = 4
TOKENS = 24


def _parser():
    from golden.models.capture import DATA

    parser = OneLineParser(prog="python -m gen capture", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DATA), metavar="DIR",
                        help=f"folder of the qkv_<model>.npz files (default {DATA})")
    parser.add_argument("--models", default="minilm,smollm2", metavar="a,b",
                        help="models to capture (default minilm,smollm2)")
    return parser


def _models(text):
    from golden.models.capture import MODELS

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or any(name not in MODELS for name in names):
        raise UsageError(f"--models must name some of {', '.join(MODELS)}, not {text!r}")
    return names


def main(argv=None):
    from golden.models.capture import capture_qkv, load_model, save_qkv, spread

    from .eval import limit_blas_threads

    args = _parser().parse_args(argv)
    names = _models(args.models)
    out = Path(args.out)
    if not out.is_dir():
        raise UsageError(f"--out: no such folder {str(out)!r}")
    limit_blas_threads(1)
    for name in names:
        try:
            model = load_model(name)
        except FileNotFoundError as error:
            raise UsageError(str(error)) from None
        captured = capture_qkv(name, TEXT, layers=spread(model.n_layers, LAYERS),
                               heads=spread(model.n_heads, HEADS), tokens=TOKENS, model=model)
        path = out / f"qkv_{name}.npz"
        save_qkv(path, captured)
        print(f"{path}: q/k/v {captured['q'].shape}, layers {captured['layers'].tolist()}, "
              f"heads {captured['heads'].tolist()} (KV heads {captured['kv_heads'].tolist()}), "
              f"causal {captured['causal']}, {path.stat().st_size} bytes", file=sys.stderr)
        print(path)
    return 0
