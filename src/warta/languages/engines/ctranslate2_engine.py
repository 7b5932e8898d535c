"""Neural translation on the operator's own hardware with CTranslate2.

The operator converts a model once (``ct2-transformers-converter``) and points Warta at the folder:

- ``WARTA_CT2_MODEL``: the model folder (the engine is unavailable without it);
- ``WARTA_CT2_DEVICE``: ``cpu``, ``cuda`` or ``auto`` (the default: CUDA when CTranslate2 sees a GPU);
- ``WARTA_CT2_COMPUTE_TYPE``: CTranslate2's compute type (``default`` keeps the converted weights' type;
  ``int8``, ``int8_float16``, ``float16``, ``auto``, ...);
- ``WARTA_CT2_BEAM_SIZE`` (default 2), ``WARTA_CT2_MAX_BATCH_SIZE`` (examples per forward pass, default 32),
  ``WARTA_CT2_THREADS`` (CPU threads per translation, default 0: CTranslate2 decides).

Two families of models are understood, told apart by the files in the folder:

- **NLLB-200** (``sentencepiece.bpe.model``): one model for every direction. The source language token
  (``eng_Latn``, ``zsm_Latn``, ``zho_Hant``, ...) goes before the source tokens and the target language
  token is the target prefix, so one batch can hold examples bound for different languages. Every pair
  among Warta's languages whose token is in the model's vocabulary is offered.
- **Marian / OPUS-MT** (``source.spm`` and ``target.spm``): one direction per model; a multi-target
  model picks the target with a ``>>xxx<<`` token at the start of the source.

``warta-model.json`` in the folder says what the files cannot. It is optional for NLLB and required for
Marian::

    {"kind": "nllb",
     "languages": ["en", "ms", "id"],            # optional: offer only these
     "language_tokens": {"ms": "zsm_Latn"},      # optional: override the NLLB token of a language
     "source_token": "first"}                    # optional: "last" for the legacy order  x </s> eng_Latn

    {"kind": "marian",
     "pairs": [["en", "zh-Hans"], ["en", "zh-Hant"]],
     "target_tokens": {"zh-Hans": ">>cmn_Hans<<", "zh-Hant": ">>cmn_Hant<<"}}

Language codes are Warta's (``en``, ``zh-Hans``, ...). ``target_tokens`` is needed when the pairs have
more than one target. ``source_spm`` and ``target_spm`` may name SentencePiece files with other names.
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from warta.i18n.catalog import LANGUAGES, normalise_lang
from warta.languages.engines.base import EngineError, Translator, register

NLLB_TOKENS: dict[str, str] = {
    "en": "eng_Latn",
    "ko": "kor_Hang",
    "ja": "jpn_Jpan",
    "ar": "arb_Arab",
    "zh-Hans": "zho_Hans",
    "zh-Hant": "zho_Hant",
    "vi": "vie_Latn",
    "th": "tha_Thai",
    "id": "ind_Latn",
    "ms": "zsm_Latn",
    "de": "deu_Latn",
    "ru": "rus_Cyrl",
    "fr": "fra_Latn",
    "es": "spa_Latn",
    "pt": "por_Latn",
}

MANIFEST = "warta-model.json"
DEVICES = ("cpu", "cuda", "auto")
_SPECIAL_TOKENS = frozenset({"<s>", "</s>", "<pad>"})
_VOCABULARY_FILES = ("shared_vocabulary", "target_vocabulary", "vocabulary")


@dataclass(frozen=True)
class ModelLayout:
    """What a model folder holds, read from its files and ``warta-model.json``."""

    folder: Path
    kind: str  # "nllb" or "marian"
    source_spm: Path
    target_spm: Path
    pairs: frozenset[tuple[str, str]]
    # NLLB: the language token of each language; Marian: the >>xxx<< token of each target, if any.
    tokens: dict[str, str] = field(default_factory=dict)
    source_token_last: bool = False

    def languages(self) -> list[str]:
        found = {lang for pair in self.pairs for lang in pair}
        return [lang for lang in LANGUAGES if lang in found]


def _error(message: str) -> EngineError:
    return EngineError(f"ctranslate2: {message}")


def _read_vocabulary(folder: Path) -> set[str] | None:
    for stem in _VOCABULARY_FILES:
        as_json = folder / f"{stem}.json"
        as_text = folder / f"{stem}.txt"
        try:
            if as_json.is_file():
                tokens = json.loads(as_json.read_text(encoding="utf-8"))
                if not isinstance(tokens, list):
                    raise _error(f"{as_json} is not a list of tokens")
                return {str(token) for token in tokens}
            if as_text.is_file():
                return set(as_text.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _error(f"cannot read the vocabulary in {folder}: {exc}") from exc
    return None


def _code(value: object, where: str) -> str:
    code = normalise_lang(value) if isinstance(value, str) else None
    if code is None:
        raise _error(f"{where}: {value!r} is not one of Warta's languages ({', '.join(LANGUAGES)})")
    return code


def read_layout(folder: Path) -> ModelLayout:
    """Inspect a model folder without loading the model. Raises EngineError with what is wrong."""
    if not folder.is_dir():
        raise _error(f"model folder {folder} does not exist")
    if not (folder / "model.bin").is_file():
        raise _error(f"{folder} has no model.bin: convert the model with ct2-transformers-converter first")
    manifest: dict[str, Any] = {}
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        try:
            loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise _error(f"cannot read {manifest_path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise _error(f"{manifest_path} must hold a JSON object")
        manifest = loaded

    nllb_spm = folder / str(manifest.get("source_spm", "sentencepiece.bpe.model"))
    has_nllb = nllb_spm.is_file()
    has_marian = (folder / "source.spm").is_file() and (folder / "target.spm").is_file()
    kind = manifest.get("kind")
    if kind is None:
        if has_nllb:
            kind = "nllb"
        elif has_marian:
            raise _error(f"{folder} looks like a Marian/OPUS-MT model: name its pairs in {MANIFEST}")
        else:
            raise _error(
                f"{folder} has neither sentencepiece.bpe.model (NLLB) nor source.spm/target.spm (Marian)"
            )
    vocabulary = _read_vocabulary(folder)
    if kind == "nllb":
        if not has_nllb:
            raise _error(f"{manifest_path} says nllb but {nllb_spm.name} is missing from {folder}")
        return _nllb_layout(folder, manifest, nllb_spm, vocabulary)
    if kind == "marian":
        source_spm = folder / str(manifest.get("source_spm", "source.spm"))
        target_spm = folder / str(manifest.get("target_spm", "target.spm"))
        for path in (source_spm, target_spm):
            if not path.is_file():
                raise _error(f"{manifest_path} says marian but {path.name} is missing from {folder}")
        return _marian_layout(folder, manifest, source_spm, target_spm, vocabulary)
    raise _error(f"{manifest_path}: kind must be 'nllb' or 'marian', not {kind!r}")


def _nllb_layout(
    folder: Path, manifest: dict[str, Any], spm: Path, vocabulary: set[str] | None
) -> ModelLayout:
    tokens = dict(NLLB_TOKENS)
    overrides = manifest.get("language_tokens", {})
    if not isinstance(overrides, dict):
        raise _error(f"{MANIFEST}: language_tokens must be an object")
    for lang, token in overrides.items():
        tokens[_code(lang, f"{MANIFEST} language_tokens")] = str(token)
    wanted = manifest.get("languages")
    if wanted is None:
        offered = list(LANGUAGES)
    elif isinstance(wanted, list):
        offered = [_code(lang, f"{MANIFEST} languages") for lang in wanted]
    else:
        raise _error(f"{MANIFEST}: languages must be a list")
    covered = [lang for lang in offered if vocabulary is None or tokens[lang] in vocabulary]
    if len(covered) < 2:
        raise _error(f"the model in {folder} covers fewer than two of Warta's languages")
    position = manifest.get("source_token", "first")
    if position not in ("first", "last"):
        raise _error(f"{MANIFEST}: source_token must be 'first' or 'last'")
    return ModelLayout(
        folder=folder,
        kind="nllb",
        source_spm=spm,
        target_spm=spm,
        pairs=frozenset((s, t) for s in covered for t in covered if s != t),
        tokens={lang: tokens[lang] for lang in covered},
        source_token_last=position == "last",
    )


def _marian_layout(
    folder: Path, manifest: dict[str, Any], source_spm: Path, target_spm: Path, vocabulary: set[str] | None
) -> ModelLayout:
    raw_pairs = manifest.get("pairs")
    if not isinstance(raw_pairs, list) or not raw_pairs:
        raise _error(f'{folder / MANIFEST} must list the model\'s pairs, e.g. "pairs": [["en", "de"]]')
    pairs: set[tuple[str, str]] = set()
    for pair in raw_pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise _error(f"{MANIFEST}: each pair is [source, target], not {pair!r}")
        pairs.add((_code(pair[0], f"{MANIFEST} pairs"), _code(pair[1], f"{MANIFEST} pairs")))
    raw_tokens = manifest.get("target_tokens", {})
    if not isinstance(raw_tokens, dict):
        raise _error(f"{MANIFEST}: target_tokens must be an object")
    tokens = {_code(lang, f"{MANIFEST} target_tokens"): str(token) for lang, token in raw_tokens.items()}
    targets = {target for _, target in pairs}
    if len(targets) > 1:
        missing = sorted(targets - tokens.keys())
        if missing:
            raise _error(f"{MANIFEST}: a multi-target model needs target_tokens for {', '.join(missing)}")
    if vocabulary is not None:
        unknown = sorted(
            token for lang, token in tokens.items() if lang in targets and token not in vocabulary
        )
        if unknown:
            raise _error(f"{MANIFEST}: {', '.join(unknown)} not in the model's vocabulary")
    return ModelLayout(
        folder=folder,
        kind="marian",
        source_spm=source_spm,
        target_spm=target_spm,
        pairs=frozenset(pairs),
        tokens={lang: token for lang, token in tokens.items() if lang in targets},
    )


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise _error(f"the {module} package is not installed ({exc})") from exc


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise _error(f"{name} must be a whole number, not {raw!r}") from None


@dataclass
class _Loaded:
    layout: ModelLayout
    translator: Any
    source_sp: Any
    target_sp: Any
    device: str
    strip: frozenset[str]


@register
class CTranslate2Engine(Translator):
    name: ClassVar[str] = "ctranslate2"
    tier: ClassVar[str] = "draft"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        device: str | None = None,
        *,
        compute_type: str | None = None,
        beam_size: int | None = None,
        max_batch_size: int | None = None,
        threads: int | None = None,
        max_decoding_length: int = 512,
    ) -> None:
        folder = model_dir if model_dir is not None else os.environ.get("WARTA_CT2_MODEL", "").strip()
        self.model_dir: Path | None = Path(folder).expanduser() if folder else None
        self.device = (device or os.environ.get("WARTA_CT2_DEVICE", "") or "auto").strip().lower()
        self.compute_type = compute_type or os.environ.get("WARTA_CT2_COMPUTE_TYPE", "").strip() or "default"
        self.max_decoding_length = max_decoding_length
        self._config_error: EngineError | None = None
        try:
            self.beam_size = beam_size if beam_size is not None else _env_int("WARTA_CT2_BEAM_SIZE", 2)
            self.max_batch_size = (
                max_batch_size if max_batch_size is not None else _env_int("WARTA_CT2_MAX_BATCH_SIZE", 32)
            )
            self.threads = threads if threads is not None else _env_int("WARTA_CT2_THREADS", 0)
        except EngineError as exc:
            self._config_error = exc
            self.beam_size, self.max_batch_size, self.threads = 2, 32, 0
        if self.device not in DEVICES:
            self._config_error = _error(
                f"WARTA_CT2_DEVICE must be one of {', '.join(DEVICES)}, not {self.device!r}"
            )
        self._lock = threading.Lock()
        self._layout: ModelLayout | None = None
        self._loaded: _Loaded | None = None

    # -- configuration -------------------------------------------------------------------------------

    def layout(self) -> ModelLayout:
        """The configured folder's layout (cached). Raises EngineError saying what is wrong."""
        if self._config_error is not None:
            raise self._config_error
        if self.model_dir is None:
            raise _error("no model folder configured (set WARTA_CT2_MODEL)")
        if self._layout is None:
            self._layout = read_layout(self.model_dir)
        return self._layout

    def resolved_device(self) -> str:
        """``cpu`` or ``cuda``: ``auto`` becomes ``cuda`` when CTranslate2 sees a GPU."""
        if self._config_error is not None:
            raise self._config_error
        if self.device != "auto":
            return self.device
        ctranslate2 = _import("ctranslate2")
        try:
            gpus = int(ctranslate2.get_cuda_device_count())
        except RuntimeError:
            gpus = 0
        return "cuda" if gpus > 0 else "cpu"

    def available(self) -> bool:
        if self.model_dir is None:
            return False
        try:
            self.layout()
            _import("ctranslate2")
            _import("sentencepiece")
        except EngineError:
            return False
        return True

    def pairs(self) -> set[tuple[str, str]]:
        if not self.available():
            return set()
        return set(self.layout().pairs)

    # -- loading -------------------------------------------------------------------------------------

    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load_locked()
            return self._loaded

    def _load_locked(self) -> _Loaded:
        layout = self.layout()
        ctranslate2 = _import("ctranslate2")
        sentencepiece = _import("sentencepiece")
        device = self.resolved_device()
        try:
            translator = ctranslate2.Translator(
                str(layout.folder),
                device=device,
                compute_type=self.compute_type,
                intra_threads=self.threads,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise _error(f"cannot load the model in {layout.folder} on {device}: {exc}") from exc
        processors = []
        for path in (layout.source_spm, layout.target_spm):
            try:
                processors.append(sentencepiece.SentencePieceProcessor(model_file=str(path)))
            except (RuntimeError, OSError) as exc:
                raise _error(f"cannot load the SentencePiece model {path}: {exc}") from exc
        return _Loaded(
            layout=layout,
            translator=translator,
            source_sp=processors[0],
            target_sp=processors[1],
            device=device,
            strip=_SPECIAL_TOKENS | frozenset(layout.tokens.values()),
        )

    def close(self) -> None:
        with self._lock:
            self._loaded = None
            self._layout = None

    # -- translation ---------------------------------------------------------------------------------

    def translate(self, segments: list[str], source: str, target: str) -> list[str]:
        return self.translate_many(segments, source, [target])[target]

    def translate_many(self, segments: list[str], source: str, targets: list[str]) -> dict[str, list[str]]:
        """Translate ``segments`` into every language of ``targets`` in one batch.

        Returns each target's translations, in the order of ``segments``. Blank segments are returned
        as they are; leading and trailing whitespace is kept around each translation."""
        wanted = list(dict.fromkeys(targets))
        loaded = self._load()
        layout = loaded.layout
        for target in wanted:
            if (source, target) not in layout.pairs:
                raise _error(f"the model in {layout.folder} does not translate {source} into {target}")
        results = {target: list(segments) for target in wanted}
        jobs: dict[tuple[str, str], list[int]] = {}
        for index, segment in enumerate(segments):
            core = segment.strip()
            if core:
                for target in wanted:
                    jobs.setdefault((core, target), []).append(index)
        if not jobs:
            return results

        sources: list[list[str]] = []
        prefixes: list[list[str] | None] = []
        for core, target in jobs:
            pieces = loaded.source_sp.encode(core, out_type=str)
            if layout.kind == "nllb":
                language = layout.tokens[source]
                tokens = (
                    [*pieces, "</s>", language] if layout.source_token_last else [language, *pieces, "</s>"]
                )
                sources.append(tokens)
                prefixes.append([layout.tokens[target]])
            else:
                marker = layout.tokens.get(target)
                sources.append([marker, *pieces, "</s>"] if marker else [*pieces, "</s>"])
                prefixes.append(None)
        longest = max(len(tokens) for tokens in sources)
        options: dict[str, Any] = {
            "max_batch_size": max(self.max_batch_size, 0),
            "beam_size": max(self.beam_size, 1),
            "max_decoding_length": min(self.max_decoding_length, longest * 3 + 16),
        }
        if layout.kind == "nllb":
            options["target_prefix"] = prefixes
        try:
            outputs = loaded.translator.translate_batch(sources, **options)
        except (RuntimeError, ValueError) as exc:
            raise _error(f"translation failed on {loaded.device}: {exc}") from exc

        for (core, target), output in zip(jobs, outputs, strict=True):
            hypothesis = [token for token in output.hypotheses[0] if token not in loaded.strip]
            text = loaded.target_sp.decode(hypothesis).strip()
            for index in jobs[(core, target)]:
                segment = segments[index]
                lead = segment[: len(segment) - len(segment.lstrip())]
                trail = segment[len(segment.rstrip()) :]
                results[target][index] = f"{lead}{text}{trail}"
        return results
