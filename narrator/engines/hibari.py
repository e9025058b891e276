"""The hibari engine (hibari-tts: small ONNX voices distilled from Kokoro-82M).

Each hibari voice is a complete 8 MB model with its own grapheme-to-phoneme front end
(a port of misaki, no espeak-ng) and 24 kHz output.  ``heart`` ships inside the hibari
wheel; ``fenrir``, ``emma``, ``fable`` and ``kore`` are downloaded by narrator itself
(:meth:`HibariEngine.download`) from hibari's Hugging Face repository, checked against
the size and SHA-256 in hibari's registry, into :func:`hibari_data_dir`; a file that
hibari's own downloader put in its cache (``HIBARI_HOME``) is used as well.

A preset's ``model`` is a hibari voice name, or a path to an ``.onnx`` export with the
same inputs and outputs (``[options] british = true`` picks the British front end).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..errors import EngineError, ModelNotFoundError, VoiceError
from ..voices import Voice
from . import (
    BUNDLED,
    DOWNLOADED,
    LOCAL,
    MISSING,
    UNAVAILABLE,
    Engine,
    check_option_names,
    engine_threads,
    onnx_cuda,
    require_network,
)
from . import speed as rate
from .fetch import fetch

logger = logging.getLogger(__name__)

URL_ENV = "NARRATOR_HIBARI_URL"
"""Environment variable that replaces :data:`BASE_URL` (a mirror, or a test's server)."""

BASE_URL = "https://huggingface.co/maureesewilliams/hibari/resolve/main/voices/"
"""Where hibari's downloadable voices are (hibari.voices.BASE_URL): the file name follows."""

MIN_SPEED, MAX_SPEED = 0.5, 2.0
"""The speaking rates hibari's model is trained for: its own control stays within them,
since its durations degrade beyond; a voice's ``speed`` outside is reached by a
time-stretch of the rest (see :mod:`narrator.engines.speed`)."""

MAX_CHARS = 400
"""The longest text hibari speaks in one call.  hibari cuts a sentence longer than 400
phonemes at clause punctuation itself and joins the parts without a pause; narrator's own
chunking at 400 characters (about as many phonemes) keeps that from happening inside a
sentence in practice, and one call's spectra stay small (about 30 MB for 30 s)."""

DEFAULT_SEED = 0
"""The seed of hibari's noise branch when the preset sets none: the same text always
gives the same samples, so cached clips and re-runs agree."""

OPTIONS = {"british": "true for a model file of a British voice (British spelling-to-sound)"}
"""Keys the hibari engine accepts in a preset's ``[options]`` table."""


def hibari_data_dir() -> Path:
    """Where narrator keeps the hibari voices it downloads."""
    return Path(platformdirs.user_data_dir("narrator")) / "hibari"


def base_url() -> str:
    """:data:`BASE_URL`, or ``$NARRATOR_HIBARI_URL``, ending with a slash."""
    url = os.environ.get(URL_ENV) or BASE_URL
    return url if url.endswith("/") else f"{url}/"


@cache
def _package_dir() -> Path | None:
    spec = find_spec("hibari")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def registry() -> dict[str, dict[str, Any]]:
    """hibari's voice registry (name -> file, bytes, sha256, bundled, british, ...), read
    without importing hibari; empty when hibari is not installed."""
    package = _package_dir()
    if package is None:
        return {}
    return _read_registry(package / "assets" / "voices.json")


@cache
def _read_registry(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data: dict[str, dict[str, Any]] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError(f"hibari's voice registry {path} is unreadable ({exc}); "
                          "reinstall hibari-tts") from None  # fmt: skip
    return data


def _hibari_cache() -> Path:
    """hibari's own download folder (hibari.voices.cache_dir), without importing hibari."""
    home = os.environ.get("HIBARI_HOME")
    if home:
        return Path(home)
    return Path(platformdirs.user_cache_dir("hibari", appauthor=False))


def _is_path(model: str) -> bool:
    return model.endswith(".onnx") or "/" in model or os.sep in model


def _entry(voice: Voice) -> dict[str, Any]:
    voices = registry()
    if voice.model not in voices:
        if _package_dir() is None:
            raise EngineError("the hibari engine needs the package hibari-tts: "
                              "pip install hibari-tts")  # fmt: skip
        raise VoiceError(f"voice {voice.name!r}: {voice.model!r} is not a hibari voice "
                         f"(hibari's voices: {', '.join(voices)})")  # fmt: skip
    return voices[voice.model]


def _on_disk(entry: dict[str, Any]) -> tuple[Path | None, str]:
    """Where a registry *entry*'s model file is, and whether bundled or downloaded."""
    package = _package_dir()
    if entry.get("bundled"):
        path = package / "assets" / entry["file"] if package else None
        return (path, BUNDLED) if path is not None and path.is_file() else (None, MISSING)
    for folder in (hibari_data_dir(), _hibari_cache()):
        path = folder / entry["file"]
        with contextlib.suppress(OSError):
            if path.stat().st_size == entry["bytes"]:
                return path, DOWNLOADED
    return None, MISSING


def resolve_model(voice: Voice) -> tuple[Path, bool]:
    """*voice*'s ``.onnx`` file, downloaded first where it is missing, and whether it is a
    British voice."""
    local = voice.local_model()
    if local is not None:
        if not local.is_file():
            raise VoiceError(f"{local}: a hibari model must be one .onnx file")
        return local, bool(voice.options.get("british", False))
    if _is_path(voice.model):  # a broken preset, not a download
        raise VoiceError(f"voice {voice.name!r}: model file {voice.model} does not exist")
    entry = _entry(voice)
    path, _ = _on_disk(entry)
    if path is None:
        HibariEngine.download(voice)  # on first use; offline, one clear error
        path, _ = _on_disk(entry)
        if path is None:  # pragma: no cover - download() put it there
            raise ModelNotFoundError(f"hibari voice {voice.model} is not on disk")
    return path, bool(entry.get("british", False))


class HibariEngine(Engine):
    """hibari's ONNX voices (24 kHz, about 8 MB each)."""

    name = "hibari"
    max_chars = MAX_CHARS

    def __init__(self, tts: Any, voice: Voice, model: Path, speed: float, seed: int) -> None:
        self._tts = tts
        self._g2p = threading.Lock()
        """hibari's front end keeps state in plain Python objects: one text at a time
        (about 1 ms a sentence); the ONNX session and the signal processing run in
        parallel."""
        self.sample_rate = int(tts.sample_rate)
        self._model_name = voice.model
        self._model = model
        self._speed = speed
        """The speed given to hibari's model (1: its own pace)."""
        self._seed = seed
        self._rate = rate.Rate(sample_rate=self.sample_rate)

    def _set_speed(self, voice: Voice) -> None:
        """Set hibari's own speed (and any time-stretch) so that the speech follows *voice*'s
        speed: hibari's control is not proportional (asked 1.2 and 2.0, heart spoke 1.08
        and 1.78 times as fast), so it is calibrated as Piper's is."""

        def speak(scale: float) -> np.ndarray:
            return self._speak(rate.CALIBRATION_TEXT, _model_speed(1.0 / scale))

        from importlib.metadata import version

        stat = self._model.stat()
        identity = {"engine": self.name, "model_file": [str(self._model.resolve()), stat.st_size],
                    "hibari": version("hibari-tts"), "seed": self._seed}  # fmt: skip
        self._rate = rate.calibrate(speak, voice.speed, self.sample_rate, name=voice.name,
                                    identity=identity)  # fmt: skip
        self._speed = _model_speed(1.0 / self._rate.scale)

    @classmethod
    def model_status(cls, voice: Voice) -> str:
        if voice.local_model() is not None:
            return LOCAL
        if _is_path(voice.model):
            return MISSING
        if _package_dir() is None:
            return UNAVAILABLE
        entry = registry().get(voice.model)
        return MISSING if entry is None else _on_disk(entry)[1]

    @classmethod
    def download(cls, voice: Voice) -> None:
        """Download a hibari voice into :func:`hibari_data_dir`, checking its size and SHA-256
        against hibari's registry; nothing is left behind when it fails."""
        if cls.model_status(voice) != MISSING:
            return
        if _is_path(voice.model):
            resolve_model(voice)  # its error names the missing file
        entry = _entry(voice)
        url = base_url() + entry["file"]
        hint = f"connect to a network and run: narrator voices download {voice.name}"
        require_network(url, f"hibari voice {voice.model}", hint)
        fetch(url, hibari_data_dir() / entry["file"], what=f"hibari voice {voice.model}",
              hint=hint, size=entry["bytes"], sha256=entry["sha256"],
              sha256_source="the one in hibari's registry")  # fmt: skip
        logger.info("downloaded hibari voice %s into %s", voice.model, hibari_data_dir())

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> HibariEngine:
        check_option_names(voice, "hibari", OPTIONS)
        if not isinstance(voice.options.get("british", False), bool):
            raise VoiceError(f"voice {voice.name!r}: [options] british must be true or false")
        if _package_dir() is None:
            raise EngineError("the hibari engine needs the package hibari-tts: "
                              "pip install hibari-tts")  # fmt: skip
        model, british = resolve_model(voice)
        use_cuda = onnx_cuda(device)
        from hibari import Hibari

        threads = engine_threads(concurrent=not use_cuda)
        # hibari picks its front end (American or British) by voice name.
        front = "emma" if british else "heart"
        try:
            tts = Hibari(voice=front, model=str(model), threads=threads)
            if use_cuda:
                tts.sess = _session(model, threads, cuda=True)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f"cannot load hibari voice {model}: {exc}") from None
        seed = DEFAULT_SEED if voice.seed is None else voice.seed
        engine = cls(tts, voice, model, 1.0, seed)
        engine.concurrent = not use_cuda
        if voice.speed != 1.0:
            engine._set_speed(voice)
        return engine

    def synthesize(self, text: str) -> np.ndarray:
        return self._rate.apply(self._speak(text, self._speed))

    def _speak(self, text: str, speed: float) -> np.ndarray:
        """*text* spoken by hibari's model at its own *speed*."""
        tts = self._tts
        with self._g2p:
            phonemes = tts.phonemize(text)
        # A generator per call, from the seed: a sentence sounds the same wherever it falls
        # and whichever thread speaks it.
        rng = np.random.default_rng(self._seed)
        parts = [tts.from_ids(tts.ids(ps), speed, rng) for ps in phonemes]
        if not parts:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(parts).astype(np.float32, copy=False).reshape(-1)
        return np.clip(audio, -1.0, 1.0)

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        stat = self._model.stat()
        return {
            **super().describe(),
            "model": self._model_name,
            "model_file": [self._model.name, stat.st_size],
            "hibari": version("hibari-tts"),
            "speed": self._speed,
            **({"stretch": self._rate.stretch} if self._rate.stretch != 1.0 else {}),
            "seed": self._seed,
        }


def _model_speed(speed: float) -> float:
    """*speed* within what hibari's model is trained for, :data:`MIN_SPEED` to
    :data:`MAX_SPEED`."""
    return min(MAX_SPEED, max(MIN_SPEED, speed))


def _session(model: Path, threads: int, *, cuda: bool) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers: list[Any] = ["CPUExecutionProvider"]
    if cuda:
        providers.insert(0, ("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"}))
    return onnxruntime.InferenceSession(str(model), sess_options=options, providers=providers)
