"""The Coqui engine (coqui-tts, import name ``TTS``): VITS, XTTS and the rest of Coqui's models.

Install it with ``pip install "narrator-tts[coqui]"``.  A preset's ``model`` is one of

* a name from Coqui's catalog, such as ``tts_models/en/ljspeech/vits``;
* a checkpoint ``.pth`` with its ``config.json`` beside it;
* a model folder holding ``config.json`` and one checkpoint.

Catalog models download on first use through coqui's own ``ModelManager`` (or ahead of
time with ``narrator voices download NAME``).  Models released on GitHub go to coqui's data
folder (:func:`coqui_data_dir`: ``$TTS_HOME/tts``, else ``$XDG_DATA_HOME/tts``, else
``~/.local/share/tts`` on Linux); models hosted on Hugging Face, XTTS among them, go to the
Hugging Face cache (``$HF_HOME/hub``, by default ``~/.cache/huggingface/hub``).

XTTS is under the Coqui Public Model License, which coqui asks about at a prompt.  This
engine never prompts: the licence is accepted with ``--accept-coqui-license``, with
``NARRATOR_ACCEPT_COQUI_LICENSE=1`` or ``COQUI_TOS_AGREED=1``, or by an agreement coqui
recorded earlier; otherwise loading fails with a message that says so.

Narrator keeps the text and the timing: the model is called one chunk of text at a time,
without coqui's sentence splitting, silence trimming or the 0.45 s of silence coqui's
``Synthesizer`` appends, and the audio comes back at the model's own level.  torch and
coqui are imported only when a model is loaded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from importlib.util import find_spec
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..errors import EngineError, ModelNotFoundError, OptionError, VoiceError
from ..text import base_language
from ..voices import Voice
from . import COQUI_INSTALL_HINT as INSTALL_HINT
from . import (
    DOWNLOADED,
    LOCAL,
    MISSING,
    Engine,
    batch_size,
    check_number_option,
    check_option_names,
    engine_threads,
    require_network,
)
from .speed import CALIBRATION_TEXT, Rate, calibrate

logger = logging.getLogger(__name__)

LICENSE_ENV = "NARRATOR_ACCEPT_COQUI_LICENSE"
"""Set to 1 to accept the Coqui Public Model License (XTTS) without the command-line flag."""

COQUI_LICENSE_ENV = "COQUI_TOS_AGREED"
"""coqui's own variable for the same agreement; honoured too."""

LICENSE_URL = "https://coqui.ai/cpml"

CHECKPOINT_NAMES = (
    "model_file.pth",
    "model_file.pth.tar",
    "model.pth",
    "checkpoint.pth",
    "best_model.pth",
)
"""Checkpoint names looked for in a model folder, in order (coqui's own, then the trainer's)."""

AUXILIARY_FILES = frozenset(
    {
        "speakers.pth",
        "speaker_ids.pth",
        "speakers_xtts.pth",
        "model_se.pth",
        "model_se.pth.tar",
        "dvae.pth",
        "mel_stats.pth",
    }
)
"""``.pth`` files that sit beside a checkpoint without being one."""

_MODEL_FILES = {
    "audio.stats_path": ("scale_stats.npy",),
    "d_vector_file": ("speakers.json", "speakers.pth"),
    "speakers_file": ("speaker_ids.json", "speaker_ids.pth", "speakers.pth", "speakers.json"),
    "language_ids_file": ("language_ids.json",),
    "speaker_encoder_model_path": ("model_se.pth", "model_se.pth.tar"),
    "speaker_encoder_config_path": ("config_se.json",),
}
"""Config fields naming files that travel with a model -> the usual names of those files."""

_ESPEAK_PHONEMIZERS = frozenset({"", "espeak", "espeak-ng"})
"""Phonemizer names (in a model's config) that run the espeak-ng program."""

OPTIONS: dict[str, tuple[bool, float, float, str]] = {
    "max_chars": (
        True, 1, 100_000,
        "longest text per model call (default: the model's limit: XTTS "
        "250 for English, none for VITS)",
    ),
    "noise_scale": (False, 0, 2, "VITS: generator noise (0 is steadiest)"),
    "noise_scale_dp": (False, 0, 2, "VITS: duration noise"),
    "temperature": (False, 0.01, 2, "XTTS: sampling temperature"),
    "top_k": (True, 1, 1000, "XTTS: sample from the k likeliest tokens"),
    "top_p": (False, 0.01, 1, "XTTS: nucleus sampling threshold"),
    "repetition_penalty": (False, 0.01, 100, "XTTS: penalty on repeated tokens"),
    "length_penalty": (False, 0, 10, "XTTS: length penalty"),
}  # fmt: skip
"""Keys the Coqui engine accepts in a preset's ``[options]`` table: (whether a whole
number, lowest, highest, description).  Left out, each setting is the model's own (from
its config.json)."""

_VITS_OPTIONS = {
    "noise_scale": "inference_noise_scale",
    "noise_scale_dp": "inference_noise_scale_dp",
}
_XTTS_OPTIONS = ("temperature", "top_k", "top_p", "repetition_penalty", "length_penalty")


def coqui_data_dir() -> Path:
    """Where coqui's ModelManager keeps the catalog models it downloads from GitHub.

    ``$TTS_HOME/tts``, else ``$XDG_DATA_HOME/tts``, else the platform's user data folder
    (``~/.local/share/tts`` on Linux).  This mirrors ``trainer.io.get_user_data_dir``, which
    cannot be imported without importing torch.
    """
    for variable in ("TTS_HOME", "XDG_DATA_HOME"):
        value = os.environ.get(variable)
        if value is not None:
            return Path(value).expanduser().resolve(strict=False) / "tts"
    return Path(platformdirs.user_data_dir("tts", appauthor=False, roaming=False))


def license_accepted() -> bool:
    """Whether the user accepted the Coqui Public Model License through the environment."""
    return (
        os.environ.get(LICENSE_ENV, "").strip().lower() in ("1", "true", "yes")
        or os.environ.get(COQUI_LICENSE_ENV) == "1"
    )


# The catalog: coqui's .models.json, read without importing coqui (which checks for torch).


def _coqui_package() -> Path:
    spec = find_spec("TTS")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the coqui engine needs the coqui-tts package; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def _is_catalog_name(model: str) -> bool:
    parts = model.split("/")
    return len(parts) == 4 and parts[0].endswith("_models") and not model.endswith(".pth")


def catalog_item(name: str) -> dict[str, Any]:
    """The catalog entry of model *name* (``tts_models/<language>/<dataset>/<model>``)."""
    catalog = json.loads((_coqui_package() / ".models.json").read_text("utf-8"))
    kind, language, dataset, model = name.split("/")
    item = catalog.get(kind, {}).get(language, {}).get(dataset, {}).get(model)
    if kind != "tts_models" or item is None:
        raise VoiceError(
            f"{name} is not a text-to-speech model in Coqui's catalog; "
            "list them with: tts --list_models"
        )
    if "fairseq" in name:
        raise VoiceError(f"{name}: Coqui's fairseq models are not supported yet")
    if item.get("default_vocoder"):
        raise VoiceError(
            f"{name} needs a separate vocoder, which the coqui engine does not "
            "support yet; use an end-to-end model such as VITS or XTTS"
        )
    return dict(item)


@dataclass(frozen=True)
class ModelFiles:
    """The files of one Coqui model on disk."""

    checkpoint: Path
    config: Path
    name: str
    """The catalog name, or the path the preset gave, for messages."""

    item: dict[str, Any] | None = None
    """The catalog entry, for catalog models."""


def find_model_files(folder: Path, name: str | None = None) -> ModelFiles:
    """The checkpoint and ``config.json`` in a model *folder*."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelNotFoundError(f"{folder}: no config.json in this model folder")
    for candidate in CHECKPOINT_NAMES:
        if (folder / candidate).is_file():
            return ModelFiles(folder / candidate, config, name or str(folder))
    found = [p for p in sorted(folder.glob("*.pth*")) if p.name not in AUXILIARY_FILES]
    numbered = [p for p in found if p.name.split(".")[0].rpartition("_")[2].isdigit()]
    if len(found) > 1 and len(numbered) == len(found):  # the trainer's checkpoint_<step>.pth
        found = [max(numbered, key=lambda p: int(p.name.split(".")[0].rpartition("_")[2]))]
    if len(found) != 1:
        listed = ", ".join(p.name for p in found) or "none"
        raise ModelNotFoundError(
            f"{folder}: expected one model checkpoint (.pth) in this "
            f"folder, found {listed}; name the file in the preset"
        )
    return ModelFiles(found[0], config, name or str(folder))


def _cached_files(name: str, item: dict[str, Any]) -> ModelFiles | None:
    """The files of catalog model *name* if they are on disk; never touches the network."""
    if "repo_id" in item:
        from huggingface_hub import snapshot_download

        try:
            folder = Path(
                snapshot_download(
                    item["repo_id"],
                    allow_patterns=item.get("allow"),
                    ignore_patterns=item.get("ignore"),
                    local_files_only=True,
                )
            )
        except (OSError, ValueError):  # not in the cache (LocalEntryNotFoundError)
            return None
    else:
        folder = coqui_data_dir() / name.replace("/", "--")
        if not folder.is_dir():
            return None
    try:
        files = find_model_files(folder, name)
    except ModelNotFoundError:
        return None
    return ModelFiles(files.checkpoint, files.config, name, item)


def _require_license(voice: Voice, name: str, agreement: Path | None) -> None:
    accepted = voice.license_accepted or license_accepted()
    if accepted or (agreement is not None and agreement.exists()):
        return
    raise EngineError(
        f"Coqui model {name} is an XTTS model, under the Coqui Public Model License "
        f"({LICENSE_URL}: non-commercial use unless you bought a licence from Coqui); accept "
        f"it with --accept-coqui-license or {LICENSE_ENV}=1"
    )


def _agreement_file(name: str) -> Path:
    """Where coqui records that its licence prompt was answered for catalog model *name*."""
    return coqui_data_dir() / name.replace("/", "--") / "tos_agreed.txt"


def download_catalog_model(voice: Voice, item: dict[str, Any]) -> ModelFiles:
    """Download *voice*'s catalog model with coqui's ModelManager, never prompting."""
    name = voice.model
    cached = _cached_files(name, item)
    if cached is not None:
        return cached
    if item.get("tos_required"):
        _require_license(voice, name, _agreement_file(name))
    what = f"Coqui model {name}"
    hint = f"connect to a network and run: narrator voices download {voice.name}"
    if "repo_id" in item:
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise ModelNotFoundError(f"{what} is not on disk and HF_HUB_OFFLINE is set; {hint}")
        url = constants.ENDPOINT
    else:
        urls = item.get("github_rls_url")
        url = urls[0] if isinstance(urls, list) else str(urls)
        folder = coqui_data_dir() / name.replace("/", "--")
        if folder.is_dir():  # coqui would take any folder there for a finished download
            if any(folder.iterdir()):
                raise ModelNotFoundError(f"{folder} holds an incomplete download of {what}; "
                                         f"delete that folder, then {hint}")  # fmt: skip
            folder.rmdir()
    require_network(url, what, hint)
    logger.warning("%s is not on disk; downloading it, once", what)
    try:
        _manager_class()(progress_bar=logger.isEnabledFor(logging.INFO)).download_model(name)
    except EngineError:
        raise
    except Exception as exc:  # requests, zipfile and huggingface_hub errors
        raise ModelNotFoundError(f"cannot download {what}: {exc}; {hint}") from None
    cached = _cached_files(name, item)
    if cached is None:
        raise ModelNotFoundError(f"{what} was downloaded but its files are incomplete; {hint}")
    return cached


def _manager_class() -> Any:
    from TTS.utils.manage import ModelManager

    class Manager(ModelManager):
        """coqui's ModelManager, except that it never asks: narrator checked the licence."""

        @staticmethod
        def tos_agreed(model_item: Any, model_full_path: Any) -> bool:
            return True

        @staticmethod
        def ask_tos(model_full_path: Any) -> bool:
            raise EngineError("the Coqui licence must be accepted with --accept-coqui-license")

    return Manager


def resolve_model(voice: Voice) -> ModelFiles:
    """The files of *voice*'s model: a local path, the download cache, or a download."""
    local = voice.local_model()
    if local is not None:  # the preset's own files: what is missing there breaks the voice
        if local.is_dir():
            try:
                return find_model_files(local, voice.model)
            except ModelNotFoundError as exc:
                raise VoiceError(str(exc)) from None
        config = local.parent / "config.json"
        if not config.is_file():
            raise VoiceError(f"{local}: its config.json is not beside it")
        return ModelFiles(local, config, voice.model)
    if not _is_catalog_name(voice.model):
        raise VoiceError(f"voice {voice.name!r}: model {voice.model} does not exist")
    return download_catalog_model(voice, catalog_item(voice.model))


# Checks made before coqui or torch could fail in a less helpful way.


def _check_options(voice: Voice) -> dict[str, Any]:
    check_option_names(voice, "coqui", {key: text for key, (*_, text) in OPTIONS.items()})
    for key, (whole, low, high, _) in OPTIONS.items():
        check_number_option(voice, key, low, high, whole=whole)
    return dict(voice.options)


def torch_device(device: str) -> Any:
    """The torch device for narrator's ``device`` option; cuda without a GPU is an error."""
    import torch

    if device == "cpu":
        return torch.device("cpu")
    usable = torch.cuda.is_available()
    if device == "cuda" and not usable:
        raise OptionError(
            "--device cuda: PyTorch finds no usable CUDA GPU here (no NVIDIA GPU or driver, or a "
            "CPU-only build of torch); use --device cpu, or --device auto to pick by itself"
        )
    return torch.device("cuda" if usable else "cpu")


def _check_phonemizer(config: Any, name: str) -> None:
    if not config.get("use_phonemes"):
        return
    phonemizer = str(config.get("phonemizer") or "")
    if phonemizer == "multi_phonemizer":
        names = {str(d.get("phonemizer") or "") for d in config.get("datasets") or []}
    elif not phonemizer:  # coqui picks one by language: espeak-ng, or gruut for a few
        from TTS.tts.utils.text.phonemizers import get_default_phonemizer

        try:
            names = {get_default_phonemizer(config.get("phoneme_language"))}
        except (ValueError, RuntimeError, OSError):  # no espeak-ng to ask for its languages
            names = {"espeak"}
    else:
        names = {phonemizer}
    if names & _ESPEAK_PHONEMIZERS and not (shutil.which("espeak-ng") or shutil.which("espeak")):
        raise EngineError(
            f"Coqui model {name} reads phonemes made by the espeak-ng program, which is not "
            "installed: apt-get install espeak-ng (Debian, Ubuntu), dnf install espeak-ng "
            "(Fedora), brew install espeak-ng (macOS)"
        )


def _relocate_files(config: Any, folder: Path) -> None:
    """Point config fields naming files that do not exist at the files beside the model.

    Coqui's trainer writes absolute paths into config.json; they break when a model folder
    moves.  (coqui's ModelManager fixes them on download by rewriting the file; a local
    model's config is fixed in memory only.)
    """
    for field, usual in _MODEL_FILES.items():
        for prefix in ("", "model_args."):
            if field.startswith("audio.") and prefix:
                continue
            *parents, key = (prefix + field).split(".")
            owner = config
            for parent in parents:
                owner = owner.get(parent) if hasattr(owner, "get") else None
                if owner is None:
                    break
            if owner is None or not hasattr(owner, "get") or not owner.get(key):
                continue
            value = owner.get(key)
            first = value[0] if isinstance(value, list) else value
            if not isinstance(first, str) or Path(first).exists():
                continue
            for candidate in (Path(first).name, *usual):
                if (folder / candidate).is_file():
                    new = str(folder / candidate)
                    owner[key] = [new] if isinstance(value, list) else new
                    logger.debug("%s: %s -> %s", prefix + field, first, new)
                    break


XTTS_CHAR_LIMITS = {
    "en": 250, "de": 253, "fr": 273, "es": 239, "it": 213, "pt": 203, "pl": 224, "zh": 82,
    "ar": 166, "cs": 186, "ru": 182, "nl": 251, "tr": 226, "ja": 71, "hu": 224, "ko": 95,
}  # fmt: skip
"""XTTS v2's tokenizer limits per language (``VoiceBpeTokenizer.char_limits``)."""


def _xtts_language(voice: Voice, languages: list[str]) -> str:
    wanted = voice.language.strip().lower().replace("_", "-")
    code = base_language(voice.language)
    for candidate in (wanted, code, "zh-cn" if code == "zh" else code):
        if candidate in languages:
            return candidate
    raise VoiceError(
        f"voice {voice.name!r}: XTTS does not speak {voice.language!r}; "
        f"languages: {', '.join(languages)}"
    )


def read_reference(path: Path, sample_rate: int) -> np.ndarray:
    """A reference recording as mono float32 at *sample_rate*, read with soundfile."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise VoiceError(f"cannot read the reference recording {path}: {exc}") from None
    mono = audio.mean(axis=1)
    if rate != sample_rate:
        common = gcd(int(rate), sample_rate)
        mono = resample_poly(mono, sample_rate // common, int(rate) // common).astype(np.float32)
    if not len(mono):
        raise VoiceError(f"the reference recording {path} is empty")
    return np.clip(mono, -1.0, 1.0)


class CoquiEngine(Engine):
    """A Coqui TTS model: VITS (single or multi-speaker), XTTS, and other end-to-end models."""

    name = "coqui"

    def __init__(
        self,
        model: Any,
        config: Any,
        files: ModelFiles,
        voice: Voice,
        device: Any,
    ) -> None:
        self._model = model
        self._config = config
        self._files = files
        self._voice = voice
        self._device = device
        self._seed = voice.seed
        self._xtts = config.get("model") == "xtts"
        self._speaker: str | None = None
        self._speaker_wav: list[str] | None = None
        self._language: str | None = None
        self._latents: tuple[Any, Any] | None = None
        self._settings: dict[str, Any] = {}
        audio = config.audio
        rate = audio.get("output_sample_rate") or audio.get("sample_rate")
        self.sample_rate = int(rate)
        self.max_chars = None
        self._rate = Rate(sample_rate=self.sample_rate)
        """How a VITS model meets the voice's speed (XTTS takes it as it is)."""

    @classmethod
    def text_limit(cls, voice: Voice) -> int | None:
        """The model's character limit, known without loading it (for ``narrator split``)."""
        _check_options(voice)
        if voice.options.get("max_chars"):
            return int(voice.options["max_chars"])
        if "xtts" in voice.model.lower():
            language = voice.language.replace("_", "-").split("-")[0].lower()
            return XTTS_CHAR_LIMITS.get(language, XTTS_CHAR_LIMITS["en"])
        return None

    @classmethod
    def model_status(cls, voice: Voice) -> str:
        if voice.local_model() is not None:
            return LOCAL
        if not _is_catalog_name(voice.model):
            return MISSING
        try:
            item = catalog_item(voice.model)
        except VoiceError:
            return MISSING
        return DOWNLOADED if _cached_files(voice.model, item) is not None else MISSING

    @classmethod
    def model_files(cls, voice: Voice) -> list[Path]:
        local = voice.local_model()
        if local is not None:
            return super().model_files(voice)
        if not _is_catalog_name(voice.model):
            return []
        try:
            files = _cached_files(voice.model, catalog_item(voice.model))
        except VoiceError:
            return []
        if files is None:
            return []
        return sorted(p for p in files.checkpoint.parent.iterdir() if p.is_file())

    @classmethod
    def download(cls, voice: Voice) -> None:
        _check_options(voice)
        resolve_model(voice)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> CoquiEngine:
        _check_options(voice)
        _coqui_package()
        try:
            import TTS  # noqa: F401 - checks torch, torchaudio and torchcodec
        except ImportError as exc:
            raise EngineError(
                f"the coqui engine cannot be imported ({exc}); {INSTALL_HINT}"
            ) from None
        where = torch_device(device)
        import torch

        torch.set_num_threads(engine_threads())  # the same in every worker: equal samples
        files = resolve_model(voice)
        from TTS.config import load_config

        try:
            config = load_config(str(files.config))
        except Exception as exc:  # coqpit raises several types for a bad config
            raise EngineError(f"cannot read the Coqui config {files.config}: {exc}") from None
        if files.item is not None and files.item.get("tos_required"):
            _require_license(voice, files.name, _agreement_file(files.name))
        elif config.get("model") == "xtts":  # a local copy or fine-tune: the same licence
            _require_license(voice, files.name, files.checkpoint.parent / "tos_agreed.txt")
        _check_phonemizer(config, files.name)
        _relocate_files(config, files.checkpoint.parent)
        model = _load_model(config, files, where)
        engine = cls(model, config, files, voice, where)
        try:
            engine._prepare()
        except BaseException:
            engine.close()
            raise
        engine.batch_size = engine._batch_size()
        return engine

    def _batch_size(self) -> int:
        """Sentences spoken in one pass: VITS models batch (with x_lengths); XTTS
        (autoregressive), cloning by speaker_wav and seeded voices (whose every
        sentence starts from the seed, to sound the same wherever it falls) do not."""
        from TTS.tts.models.vits import Vits

        if self._xtts or self._speaker_wav or self._seed is not None:
            return 1
        if not isinstance(self._model, Vits):
            return 1
        return batch_size(str(self._device).startswith("cuda"))

    def _prepare(self) -> None:
        """Choose speaker, language, limits and sampling settings; check them against the model."""
        voice = self._voice
        options = dict(voice.options)
        wrong = [k for k in (_VITS_OPTIONS if self._xtts else _XTTS_OPTIONS) if k in options]
        if wrong:
            kind = "VITS" if self._xtts else "XTTS"
            raise VoiceError(
                f"voice {voice.name!r}: option(s) {', '.join(wrong)} apply to {kind} models only"
            )
        if self._xtts:
            self._prepare_xtts(options)
        else:
            self._prepare_model(options)
        limit = options.get("max_chars")
        if limit is not None:
            if self.max_chars is not None and limit > self.max_chars:
                raise VoiceError(
                    f"voice {voice.name!r}: max_chars {limit} is above the model's "
                    f"limit of {self.max_chars} characters"
                )
            self.max_chars = int(limit)
        logger.debug("coqui model %s: %s", self._files.name, self.describe())

    def _prepare_model(self, options: dict[str, Any]) -> None:
        voice, model = self._voice, self._model
        manager = getattr(model, "speaker_manager", None)
        names = sorted(
            set(getattr(manager, "speaker_names", None) or [])
            | set(getattr(manager, "embedding_names", None) or [])
        )
        clones = manager is not None and getattr(manager, "encoder", None) is not None
        if voice.speaker_wav:
            if not clones:
                raise VoiceError(
                    f"voice {voice.name!r}: model {self._files.name} cannot clone a "
                    "voice; speaker_wav needs XTTS or a model with a speaker "
                    "encoder"
                )
            self._speaker_wav = [str(_existing(p)) for p in voice.reference_audio()]
        elif len(names) > 1:
            if voice.speaker is None:
                raise VoiceError(
                    f"voice {voice.name!r}: model {self._files.name} has several "
                    f"speakers; choose one with speaker (or --speaker): "
                    f"{', '.join(names)}"
                )
            if voice.speaker not in names:
                raise VoiceError(
                    f"voice {voice.name!r}: model {self._files.name} has no speaker "
                    f"{voice.speaker!r}; speakers: {', '.join(names)}"
                )
            self._speaker = voice.speaker
        elif voice.speaker is not None:
            raise VoiceError(
                f"voice {voice.name!r}: model {self._files.name} has a single "
                f"speaker; remove speaker {voice.speaker!r}"
            )
        languages = list(getattr(model.language_manager, "language_names", None) or [])
        if len(languages) > 1:
            wanted = voice.language.strip().lower().replace("_", "-")
            code = base_language(voice.language)
            matches = [n for n in languages if n.lower().replace("_", "-") in (wanted, code)]
            if not matches:
                raise VoiceError(
                    f"voice {voice.name!r}: model {self._files.name} does not "
                    f"speak {voice.language!r}; languages: {', '.join(languages)}"
                )
            self._language = matches[0]
        for key, attribute in _VITS_OPTIONS.items():
            if key in options and hasattr(model, attribute):
                setattr(model, attribute, float(options[key]))
        if hasattr(model, "length_scale"):
            self._set_speed(float(self._config.model_args.get("length_scale", 1.0) or 1.0))

    def _set_speed(self, own: float) -> None:
        """Set the length scale (and any time-stretch) that makes the speech follow the
        voice's speed (see :mod:`narrator.engines.speed`): VITS rounds every token's
        duration up to a frame, so its length scale is not proportional."""
        from importlib.metadata import version

        import torch

        model, speed = self._model, self._voice.speed
        model.length_scale = own
        if speed == 1.0:
            return
        noise = {a: getattr(model, a) for a in _VITS_OPTIONS.values() if hasattr(model, a)}

        def speak(scale: float) -> np.ndarray:
            model.length_scale = own * scale
            with torch.inference_mode():
                wav = self._model_wav(CALIBRATION_TEXT)
            return np.zeros(0, dtype=np.float32) if wav is None else _clip(wav)

        try:  # deterministic durations, so that every worker finds the same scale
            for attribute in noise:
                setattr(model, attribute, 0.0)
            references = [_file_identity(p) for p in self._voice.reference_audio()]
            identity = {"checkpoint": _file_identity(self._files.checkpoint),
                        "coqui": version("coqui-tts"), "speaker": self._speaker,
                        "language": self._language, "device": str(self._device),
                        "threads": torch.get_num_threads(), "length_scale": own,
                        "references": references}  # fmt: skip
            self._rate = calibrate(speak, speed, self.sample_rate, name=self._voice.name,
                                   identity=identity)  # fmt: skip
        finally:
            for attribute, value in noise.items():
                setattr(model, attribute, value)
        model.length_scale = own * self._rate.scale

    def _prepare_xtts(self, options: dict[str, Any]) -> None:
        voice, model, config = self._voice, self._model, self._config
        self._language = _xtts_language(voice, list(config.languages))
        limits = model.tokenizer.char_limits
        self.max_chars = int(limits.get(self._language.split("-")[0], 250))
        self._settings = {key: config.get(key) for key in _XTTS_OPTIONS}
        self._settings.update({k: options[k] for k in _XTTS_OPTIONS if k in options})
        builtin = dict(getattr(model.speaker_manager, "speakers", None) or {})
        if voice.speaker_wav:
            self._latents = self._clone(voice.reference_audio())
            return
        if voice.speaker is None:
            listed = ", ".join(sorted(builtin)) or "none"
            raise VoiceError(
                f"voice {voice.name!r}: XTTS needs speaker_wav (recordings of the "
                f"voice to clone) or a built-in speaker; built-in: {listed}"
            )
        if voice.speaker not in builtin:
            raise VoiceError(
                f"voice {voice.name!r}: XTTS has no built-in speaker "
                f"{voice.speaker!r}; speakers: {', '.join(sorted(builtin))}"
            )
        latent, embedding = builtin[voice.speaker].values()
        self._speaker = voice.speaker
        self._latents = (latent, embedding)

    def _clone(self, paths: tuple[Path, ...]) -> tuple[Any, Any]:
        """XTTS's conditioning latents from reference recordings read with soundfile.

        This is ``Xtts.get_conditioning_latents`` except for the reading: coqui reads the
        files with torchaudio.load, which needs FFmpeg's shared libraries.
        """
        import torch

        model, config = self._model, self._config
        rate = 22_050  # XTTS's conditioning encoders work at this rate
        recordings, embeddings = [], []
        for path in paths:
            audio = read_reference(_existing(path), rate)[: rate * int(config.max_ref_len)]
            tensor = torch.from_numpy(np.ascontiguousarray(audio))[None, :].to(self._device)
            if config.sound_norm_refs:
                tensor = tensor / tensor.abs().max().clamp_min(1e-6) * 0.75
            with torch.inference_mode():
                embeddings.append(model.get_speaker_embedding(tensor, rate))
            recordings.append(tensor)
        try:
            with torch.inference_mode():
                latent = model.get_gpt_cond_latents(
                    torch.cat(recordings, dim=-1),
                    rate,
                    length=config.gpt_cond_len,
                    chunk_length=config.gpt_cond_chunk_len,
                )
        except RuntimeError as exc:  # "Provided reference audio too short"
            raise VoiceError(f"voice {self._voice.name!r}: cannot clone the voice: {exc}") from None
        return latent, torch.stack(embeddings).mean(dim=0)

    def synthesize(self, text: str) -> np.ndarray:
        import torch

        text = text.strip()
        if not text:
            return np.zeros(0, dtype=np.float32)
        if self._seed is not None:
            torch.manual_seed(self._seed)  # every device's generator; per call, so a sentence
            # sounds the same wherever it falls in a book
        try:
            with torch.inference_mode():
                wav = self._xtts_wav(text) if self._xtts else self._model_wav(text)
        except (RuntimeError, ValueError, KeyError, AssertionError) as exc:
            raise EngineError(f"the Coqui model failed on {text[:60]!r}: {exc}") from None
        return np.zeros(0, dtype=np.float32) if wav is None else self._rate.apply(_clip(wav))

    def synthesize_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        if self.batch_size == 1 or len(texts) < 2:
            return [self.synthesize(text) for text in texts]
        import torch

        model = self._model
        ids = [self._tokens(text.strip()) if text.strip() else [] for text in texts]
        spoken = [i for i, tokens in enumerate(ids) if tokens]
        clips = [np.zeros(0, dtype=np.float32) for _ in texts]
        if not spoken:
            return clips
        count = len(spoken)
        lengths = torch.tensor([len(ids[i]) for i in spoken], device=self._device)
        x = torch.zeros((count, int(lengths.max())), dtype=torch.long, device=self._device)
        for row, i in enumerate(spoken):
            x[row, : len(ids[i])] = torch.as_tensor(ids[i], device=self._device)
        speaker_id, d_vector = model._get_speaker_id_or_dvector(self._speaker, None, None)
        language_id = model._get_language_id(self._language)
        aux: dict[str, Any] = {"x_lengths": lengths, "speaker_ids": None, "d_vectors": None,
                               "language_ids": None}  # fmt: skip
        if speaker_id is not None:
            aux["speaker_ids"] = torch.as_tensor(speaker_id, device=self._device).reshape(-1)
            aux["speaker_ids"] = aux["speaker_ids"].expand(count)
        if d_vector is not None:
            vector = torch.as_tensor(d_vector, device=self._device).reshape(1, -1)
            aux["d_vectors"] = vector.expand(count, -1)
        if language_id is not None:
            aux["language_ids"] = torch.full((count,), int(language_id), device=self._device)
        try:
            with torch.inference_mode():
                outputs = model.inference(x, aux_input=aux)
        except (RuntimeError, ValueError, KeyError, AssertionError) as exc:
            raise EngineError(f"the Coqui model failed on a batch of {count} sentences: "
                              f"{exc}") from None  # fmt: skip
        wavs = outputs["model_outputs"]
        frames = outputs["y_mask"].detach().sum(dim=(1, 2)).long().cpu().numpy()
        per_frame = wavs.shape[-1] // outputs["y_mask"].shape[-1]
        for row, i in enumerate(spoken):
            clips[i] = self._rate.apply(
                _clip(wavs[row].reshape(-1)[: int(frames[row]) * per_frame])
            )
        return clips

    def _tokens(self, text: str) -> list[int]:
        """The model's input ids for *text* (none, with a warning, when the model's
        alphabet has none of its characters)."""
        ids = list(self._model.tokenizer.text_to_ids(text, language=self._language))
        if not ids:
            logger.warning("no character of %r is in the model's alphabet", text)
        return ids

    def _model_wav(self, text: str) -> Any:
        if not self._tokens(text):
            return None
        outputs = self._model.synthesize(
            text,
            speaker=self._speaker,
            speaker_wav=self._speaker_wav,
            language=self._language,
            use_griffin_lim=True,  # for spectrogram models; end-to-end ones ignore it
        )
        return outputs["wav"]

    def _xtts_wav(self, text: str) -> Any:
        assert self._latents is not None and self._language is not None
        latent, embedding = self._latents
        with _quiet_transformers():
            outputs = self._model.inference(
                text,
                self._language,
                latent,
                embedding,
                speed=self._voice.speed,
                enable_text_splitting=False,
                **self._settings,
            )
        return outputs["wav"]

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        facts: dict[str, Any] = {
            **super().describe(),
            "model": self._files.name,
            "checkpoint": _file_identity(self._files.checkpoint),
            "architecture": self._config.get("model"),
            "coqui": version("coqui-tts"),
            "speaker": self._speaker,
            "speaker_wav": list(self._voice.speaker_wav) or None,
            "references": [_file_identity(p) for p in self._voice.reference_audio()] or None,
            "language": self._language,
            "speed": self._voice.speed,
            **({"stretch": self._rate.stretch} if self._rate.stretch != 1.0 else {}),
            "seed": self._seed,
            "max_chars": self.max_chars,
            "device": str(self._device),
        }
        if self.batch_size > 1:  # a batch's padding moves the last few samples of a clip
            facts["batch_size"] = self.batch_size
        for key, attribute in _VITS_OPTIONS.items():
            if hasattr(self._model, attribute):
                facts[key] = getattr(self._model, attribute)
        facts.update(self._settings)
        return facts

    def close(self) -> None:
        model, self._model = self._model, None
        if model is not None and str(self._device).startswith("cuda"):
            import torch

            del model
            torch.cuda.empty_cache()


def _clip(wav: Any) -> np.ndarray:
    """A model's output (tensor or array) as a clip: flat float32, finite, in [-1, 1]."""
    if hasattr(wav, "detach"):
        wav = wav.detach().float().cpu().numpy()
    audio = np.nan_to_num(np.asarray(wav, dtype=np.float32).reshape(-1))
    return np.clip(audio, -1.0, 1.0)


def _file_identity(path: Path) -> list[Any]:
    """Path, size and modification time: changes when the file does (for the clip cache)."""
    try:
        stat = path.stat()
    except OSError:
        return [str(path)]
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise VoiceError(f"the reference recording {path} does not exist")
    return path


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' warnings about XTTS's GPT config (harmless, and shown on every load)
    unless narrator is logging for debugging."""
    if logger.isEnabledFor(logging.DEBUG):
        yield
        return
    from transformers.utils import logging as transformers_logging

    before = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(before)


def _load_model(config: Any, files: ModelFiles, device: Any) -> Any:
    """Build the model from its config and load its weights (what coqui's Synthesizer does)."""
    from TTS.tts.models import setup_model

    quiet = _quiet_transformers() if config.get("model") == "xtts" else nullcontext()
    try:
        with quiet:
            model = setup_model(config)
            model.load_checkpoint(config, checkpoint_path=str(files.checkpoint), eval=True)
            model.to(device)
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, AssertionError) as exc:
        raise EngineError(
            f"cannot load Coqui model {files.name} from {files.checkpoint}: {exc}"
        ) from None
    except ModuleNotFoundError as exc:
        raise EngineError(f"cannot load Coqui model {files.name}: {exc}") from None
    return model
