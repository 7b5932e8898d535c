"""Tiny random CTranslate2 models for engine tests, built on the spot with nothing downloaded.

A SentencePiece model is trained on a few hundred generated sentences, a one-layer Transformer is
declared with ``ctranslate2.specs`` and every weight is filled with small random numbers. What such a
model writes is nonsense, but loading it runs the same code as loading NLLB-200 or OPUS-MT: the folder
has the same files, the tokens go through the same SentencePiece and ``translate_batch`` calls.

:func:`tiny_model` builds each kind once per test session, in a temporary folder removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import json
import random
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

# NLLB-200 language tokens the tiny NLLB model knows: seven of Warta's fifteen languages.
NLLB_TOKENS = ("eng_Latn", "zsm_Latn", "ind_Latn", "zho_Hans", "zho_Hant", "fra_Latn", "deu_Latn")
NLLB_LANGUAGES = ("en", "ms", "id", "zh-Hans", "zh-Hant", "fr", "de")

# The tiny OPUS-MT-style model: English into German and French, chosen by a >>xxx<< token.
MARIAN_TARGET_TOKENS = {"de": ">>deu<<", "fr": ">>fra<<"}

_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")

_WORDS = {
    lang: line.split()
    for lang, line in {
        "en": "the company announces new results today for its shareholders and partners in the region",
        "ms": "syarikat itu mengumumkan keputusan baharu hari ini untuk pemegang saham dan rakan kongsi",
        "id": "perusahaan mengumumkan hasil baru hari ini untuk para pemegang saham dan mitra di wilayah",
        "fr": "la société annonce aujourd'hui de nouveaux résultats pour ses actionnaires et partenaires",
        "de": "das unternehmen gibt heute neue ergebnisse für seine aktionäre und partner bekannt",
    }.items()
}
_WORDS["zh"] = list("公司今天宣布新的业绩股东和合作伙伴地区發佈結果")


def corpus(count: int = 400, seed: int = 7) -> list[str]:
    """``count`` generated sentences in a handful of languages and scripts."""
    rng = random.Random(seed)
    languages = sorted(_WORDS)
    lines = []
    for i in range(count):
        words = _WORDS[languages[i % len(languages)]]
        picked = [rng.choice(words) for _ in range(rng.randint(4, 12))]
        joiner = "" if languages[i % len(languages)] == "zh" else " "
        sentence = joiner.join(picked)
        lines.append(sentence[:1].upper() + sentence[1:] + rng.choice([".", "!", "?", ","]))
    return lines


def train_sentencepiece(prefix: Path, *, vocab_size: int = 300, symbols: Iterable[str] = ()) -> Path:
    """Train a small BPE SentencePiece model; returns the ``.model`` file."""
    import sentencepiece

    text = prefix.with_suffix(".txt")
    text.write_text("\n".join(corpus()) + "\n", encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(prefix),
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        hard_vocab_limit=False,
        user_defined_symbols=list(symbols),
        num_threads=1,
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


def vocabulary(spm_model: Path, extra: Iterable[str] = ()) -> list[str]:
    """The CTranslate2 vocabulary: the special tokens, every SentencePiece piece, then ``extra``."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=str(spm_model))
    tokens = list(_SPECIALS)
    for piece in [processor.id_to_piece(i) for i in range(processor.get_piece_size())] + list(extra):
        if piece not in tokens:
            tokens.append(piece)
    return tokens


def _random_transformer(
    tokens: list[str], *, pre_norm: bool, d_model: int = 32, ffn: int = 64, heads: int = 2, seed: int = 11
) -> Any:
    """A one-layer encoder-decoder spec with every required weight set to small random numbers."""
    from ctranslate2.specs import common_spec, model_spec, transformer_spec

    spec = transformer_spec.TransformerSpec.from_config(1, heads, pre_norm=pre_norm)
    rng = np.random.default_rng(seed)
    vocab = len(tokens)

    def shape_of(scope: list[str], attribute: str) -> tuple[int, ...]:
        if attribute in ("gamma", "beta", "bias"):
            if scope[-1] == "projection":
                return (vocab,)
            if scope[-2:] == ["ffn", "linear_0"]:
                return (ffn,)
            if scope[-2:] == ["self_attention", "linear_0"]:
                return (3 * d_model,)
            if scope[-2:] == ["attention", "linear_1"]:
                return (2 * d_model,)
            return (d_model,)
        # attribute == "weight"
        last = scope[-1]
        if last.startswith("embeddings") or last == "projection":
            return (vocab, d_model)
        if scope[-2:] == ["ffn", "linear_0"]:
            return (ffn, d_model)
        if scope[-2:] == ["ffn", "linear_1"]:
            return (d_model, ffn)
        if scope[-2:] == ["self_attention", "linear_0"]:
            return (3 * d_model, d_model)
        if scope[-2:] == ["attention", "linear_1"]:
            return (2 * d_model, d_model)
        return (d_model, d_model)

    def fill(layer: model_spec.LayerSpec, scope: list[str]) -> None:
        for name, value in list(vars(layer).items()):
            if name.startswith("_"):
                continue
            if isinstance(value, list):
                for i, child in enumerate(value):
                    fill(child, [*scope, f"{name}_{i}"])
            elif isinstance(value, model_spec.LayerSpec):
                fill(value, [*scope, name])
            elif value is None:
                shape = shape_of(scope, name)
                if name == "gamma":
                    array = np.ones(shape, dtype=np.float32)
                elif name == "beta":
                    array = np.zeros(shape, dtype=np.float32)
                else:
                    array = rng.normal(0.0, 0.2, size=shape).astype(np.float32)
                setattr(layer, name, array)
        if isinstance(layer, common_spec.LinearSpec) and isinstance(layer.bias, str):
            layer.bias = np.zeros(shape_of(scope, "bias"), dtype=np.float32)

    fill(spec, [])
    spec.register_source_vocabulary(tokens)
    spec.register_target_vocabulary(tokens)
    spec.config.bos_token = "<s>"
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.decoder_start_token = "</s>"
    return spec


def build_nllb_model(folder: Path) -> Path:
    """An NLLB-200-shaped folder: ``model.bin``, a shared vocabulary with language tokens,
    ``sentencepiece.bpe.model`` and ``warta-model.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        spm_model = train_sentencepiece(Path(work) / "spm", symbols=NLLB_TOKENS)
        spec = _random_transformer(vocabulary(spm_model, NLLB_TOKENS), pre_norm=True)
        spec.validate()
        spec.optimize(quantization="float32")
        spec.save(str(folder))
        shutil.copy(spm_model, folder / "sentencepiece.bpe.model")
    (folder / "warta-model.json").write_text(json.dumps({"kind": "nllb"}), encoding="utf-8")
    return folder


def build_marian_model(folder: Path) -> Path:
    """An OPUS-MT-shaped folder, English into German and French: ``source.spm``, ``target.spm`` and a
    ``warta-model.json`` naming the pairs and the ``>>xxx<<`` target tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        spm_model = train_sentencepiece(Path(work) / "spm")
        tokens = [t for t in vocabulary(spm_model, MARIAN_TARGET_TOKENS.values()) if t != "<s>"]
        spec = _random_transformer(tokens, pre_norm=False, seed=13)
        spec.decoder.start_from_zero_embedding = True
        spec.validate()
        spec.optimize(quantization="float32")
        spec.save(str(folder))
        shutil.copy(spm_model, folder / "source.spm")
        shutil.copy(spm_model, folder / "target.spm")
    manifest = {
        "kind": "marian",
        "pairs": [["en", target] for target in MARIAN_TARGET_TOKENS],
        "target_tokens": MARIAN_TARGET_TOKENS,
    }
    (folder / "warta-model.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@functools.cache
def tiny_model(kind: str = "nllb") -> Path:
    """The tiny model of ``kind`` (``nllb`` or ``marian``), built once per process."""
    root = Path(tempfile.mkdtemp(prefix=f"warta-ct2-{kind}-"))
    atexit.register(shutil.rmtree, root, True)
    builders = {"nllb": build_nllb_model, "marian": build_marian_model}
    return builders[kind](root / "model")
