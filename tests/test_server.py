"""``narrator serve``: the OpenAI client and raw HTTP against a server on 127.0.0.1.

The server runs in a thread of the test process (so that the fake engines registered
here serve it), or, for SIGTERM, as a process of its own (``tests/serve_main.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

import uvicorn  # noqa: E402

from narrator.engines import register_engine, unregister_engine  # noqa: E402
from narrator.server import Settings, create_app  # noqa: E402
from narrator.server import listen as listen_on  # noqa: E402
from narrator.server.voices import OPENAI_VOICES, resolve  # noqa: E402

from .audio import decode_ffmpeg, speech_seconds  # noqa: E402
from .conftest import FAKE_PRESET  # noqa: E402
from .fake_engine import FakeEngine, HeldEngine, expected_speech_seconds  # noqa: E402

SENTENCES = [
    "The lighthouse keeper climbed the stairs.",
    "Rain hammered the glass.",
    "Far out, a ship blinked twice.",
    "He lit the lamp and waited.",
]
TEXT = " ".join(SENTENCES)
WAIT = 30.0
"""Seconds a test waits for the server to get somewhere before it fails."""


def spoken() -> list[str]:
    """The fake engine's calls, less the calibration a stream speaks to measure a voice."""
    from narrator.streaming import CALIBRATION_TEXT

    return [call for call in FakeEngine.calls if call not in CALIBRATION_TEXT]


def until(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    """Wait for *condition* to be true (not a timing assertion: it fails only when the
    server never gets there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    pytest.fail(f"the server never got there: {what}")


class Running:
    """A server on a free port of 127.0.0.1, in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.service = self.app.service  # type: ignore[attr-defined]
        sock = listen_on("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)  # fmt: skip
        self.thread.start()
        until(lambda: self.server.started, "started")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT)
        assert not self.thread.is_alive()

    def client(self, api_key: str = "unused") -> Any:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, max_retries=0)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP request: (status, headers, body)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT)
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        try:
            connection.request(method, path, body=data, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()


@pytest.fixture
def serve(
    fake_voice: str, tmp_path: Path
) -> Iterator[Callable[..., Running]]:  # fmt: skip
    """Start servers (with the fake voice and a state folder of the test's); all stop at
    the end."""
    started: list[Running] = []

    def start(**options: Any) -> Running:
        options.setdefault("state_dir", tmp_path / "state")
        running = Running(Settings(**options))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def gated(user_dirs: Path) -> Iterator[threading.Event]:
    """The gated fake engine as voice "held": its first clip comes at once, the others
    wait for the event the test sets."""
    gate = threading.Event()
    register_engine("held", HeldEngine)
    (user_dirs / "held.toml").write_text(FAKE_PRESET.replace('"fake"', '"held"'))
    HeldEngine.gate, HeldEngine.free = gate, 1
    FakeEngine.calls.clear()
    yield gate
    gate.set()
    HeldEngine.gate = None
    unregister_engine("held")


def error_of(body: bytes) -> dict[str, Any]:
    """The error object of an error reply, checked to be OpenAI's shape."""
    data = json.loads(body)
    assert set(data) == {"error"}
    assert set(data["error"]) == {"message", "type", "param", "code"}
    return data["error"]


def measured(data: bytes, fmt: str, tmp_path: Path, rate: int | None = None) -> Any:
    """Decode a reply of *fmt* with ffmpeg (raw PCM at *rate*)."""
    path = tmp_path / f"reply.{fmt}"
    if fmt == "pcm":
        assert rate is not None
        path = tmp_path / "reply.wav"
        import soundfile

        pcm = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768
        soundfile.write(path, pcm, rate, subtype="PCM_16")
    else:
        path.write_bytes(data)
    return decode_ffmpeg(path)


SPOKEN = sum(expected_speech_seconds(s) for s in SENTENCES)


# -- the OpenAI client ---------------------------------------------------------------------

RATES = {"mp3": 44_100, "opus": 48_000, "aac": 16_000, "flac": 16_000, "wav": 16_000,
         "pcm": 16_000}  # fmt: skip
"""The sample rate of each format for the fake voice (16 kHz): MP3 at 44.1 kHz, Opus at 48."""


@pytest.mark.parametrize("fmt", list(RATES))
def test_openai_client_speaks_each_format(serve, fmt: str, tmp_path: Path) -> None:
    server = serve()
    reply = server.client().audio.speech.create(model="tts-1", voice="fake", input=TEXT,
                                                response_format=fmt)  # fmt: skip
    headers = reply.response.headers
    assert headers["content-type"].startswith(
        {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
         "wav": "audio/wav", "pcm": "audio/pcm"}[fmt]
    )  # fmt: skip
    rate = int(headers["x-sample-rate"])
    assert rate == 16_000
    decoded = measured(reply.content, fmt, tmp_path, rate)
    assert decoded.rate == RATES[fmt]
    # Every sentence's tone is there, and not much more than the pauses around it.
    assert speech_seconds(decoded.audio, decoded.rate) == pytest.approx(SPOKEN, abs=0.25)
    assert SPOKEN < decoded.duration < SPOKEN + 3 * 0.45 + 1.0
    assert spoken() == SENTENCES


def test_streaming_response_starts_before_the_last_sentence(serve, gated, tmp_path) -> None:
    """The first audio arrives while the second sentence is still held in the engine."""
    server = serve()
    speech = server.client().audio.speech.with_streaming_response
    with speech.create(model="tts-1", voice="held", input=TEXT, response_format="pcm") as reply:
        pieces = reply.iter_bytes()
        first = next(pieces)
        assert first
        assert spoken() == SENTENCES[:1]  # the others wait for the gate
        gated.set()
        data = first + b"".join(pieces)
        rate = int(reply.headers["x-sample-rate"])
    decoded = measured(data, "pcm", tmp_path, rate)
    assert speech_seconds(decoded.audio, rate) == pytest.approx(SPOKEN, abs=0.25)
    assert spoken() == SENTENCES


def test_openai_voice_names_map_to_presets(serve, user_dirs: Path) -> None:
    """OpenAI's names stand for presets (heart for alloy here); a user preset of that name
    wins, and the request is spoken by it."""
    assert resolve("alloy").name == OPENAI_VOICES["alloy"][0] == "heart"
    assert resolve("echo").name == "joe"
    (user_dirs / "alloy.toml").write_text(FAKE_PRESET.replace('"fake"', '"alloy"', 1))
    server = serve()
    reply = server.client().audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    assert reply.content and spoken() == ["Hello."]


def test_models_and_voices_list_what_is_installed(serve) -> None:
    server = serve()
    ids = [m.id for m in server.client().models.list()]
    assert {"narrator", "tts-1", "tts-1-hd"} <= set(ids)
    status, _, body = server.request("GET", "/v1/audio/voices")
    assert status == 200
    listed = json.loads(body)
    assert {"fake", "heart", "joe"} <= set(listed["voices"])
    assert listed["openai_voices"]["alloy"] == "heart"
    assert all(row["status"] != "missing" for row in listed["data"])


def test_client_sees_openai_errors(serve) -> None:
    server = serve()
    with pytest.raises(openai.BadRequestError) as caught:
        server.client().audio.speech.create(model="tts-1", voice="nobody", input="Hi.")
    assert caught.value.code == "voice_not_found"
    assert "unknown voice 'nobody'" in caught.value.message


# -- raw HTTP ------------------------------------------------------------------------------


def speech_body(**changes: Any) -> dict[str, Any]:
    return {"model": "tts-1", "voice": "fake", "input": "Hello there.",
            "response_format": "wav", **changes}  # fmt: skip


def test_api_key_is_required_and_checked(serve) -> None:
    server = serve(api_key="s3cret")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"Authorization": "Basic s3cret"}):  # fmt: skip
        status, reply_headers, body = server.request("POST", "/v1/audio/speech", speech_body(),
                                                     headers)  # fmt: skip
        assert status == 401
        assert error_of(body)["code"] == "invalid_api_key"
        status, _, body = server.request("GET", "/v1/models", None, headers)
        assert status == 401
    assert spoken() == []
    ok = {"Authorization": "Bearer s3cret"}
    status, headers, body = server.request("POST", "/v1/audio/speech", speech_body(), ok)
    assert status == 200 and body[:4] == b"RIFF"
    assert server.request("GET", "/health")[0] == 200
    with pytest.raises(openai.AuthenticationError):
        server.client("wrong").models.list()
    assert server.client("s3cret").models.list().data


def test_api_key_from_the_environment(monkeypatch, fake_voice, tmp_path) -> None:
    from click.testing import CliRunner

    from narrator import server as package
    from narrator.cli import cli

    seen: list[Settings] = []
    monkeypatch.setattr(package, "run", lambda settings, **kw: seen.append(settings))
    monkeypatch.setenv("NARRATOR_API_KEY", "from-env")
    result = CliRunner().invoke(cli, ["serve", "--state-dir", str(tmp_path), "--queue", "3"],
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert seen[0].api_key == "from-env" and seen[0].host == "127.0.0.1"
    assert seen[0].queue == 3 and seen[0].state_dir == tmp_path


def test_body_and_input_limits_answer_413(serve) -> None:
    server = serve(max_input_chars=100)
    status, _, body = server.request("POST", "/v1/audio/speech", speech_body(input="x" * 101))
    assert status == 413
    assert error_of(body)["code"] == "input_too_long" and error_of(body)["param"] == "input"
    status, _, body = server.request("POST", "/v1/audio/speech", b"{" + b" " * 100_000 + b"}",
                                     {"Content-Type": "application/json"})  # fmt: skip
    assert status == 413
    assert error_of(body)["code"] == "request_too_large"
    assert spoken() == []
    status, _, _ = server.request("POST", "/v1/audio/speech", speech_body(input="x" * 100))
    assert status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (json.dumps(speech_body(input=None)).encode(), "invalid_value"),
        (json.dumps(speech_body(input="   ")).encode(), "invalid_value"),
        (json.dumps(speech_body(response_format="ogg")).encode(), "invalid_value"),
        (json.dumps(speech_body(speed=9)).encode(), "invalid_value"),
        (json.dumps(speech_body(model="gpt-9")).encode(), "model_not_found"),
        (json.dumps(speech_body(voice="nobody")).encode(), "voice_not_found"),
        (json.dumps(speech_body(input="🙂 ✨")).encode(), "invalid_value"),
    ],
)
def test_bad_requests_answer_400_in_openai_shape(serve, body: bytes, code: str) -> None:
    server = serve()
    status, headers, reply = server.request("POST", "/v1/audio/speech", body)
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = error_of(reply)
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert spoken() == []


@pytest.mark.parametrize(
    "name", ["../fake", "/etc/passwd", "..\\fake", "C:\\voices\\fake", "fake/../fake",
             "~/fake", ".hidden", "fake.toml", "voices/fake"],
)  # fmt: skip
def test_voice_names_cannot_be_paths(serve, user_dirs: Path, name: str) -> None:
    (user_dirs / "sub").mkdir()
    (user_dirs / "sub" / "fake.toml").write_text(FAKE_PRESET)
    server = serve()
    status, _, reply = server.request("POST", "/v1/audio/speech", speech_body(voice=name))
    assert status == 400
    error = error_of(reply)
    assert error["param"] == "voice" and error["code"] in ("invalid_voice", "voice_not_found")
    assert spoken() == []


def test_unknown_route_and_method_are_json(serve) -> None:
    server = serve()
    status, _, body = server.request("GET", "/v1/nothing")
    assert status == 404 and error_of(body)["code"] == "not_found"
    status, _, body = server.request("GET", "/v1/audio/speech")
    assert status == 405 and error_of(body)["code"] == "method_not_allowed"


def open_speech(server: Running, **changes: Any) -> socket.socket:
    """Send a speech request on a raw socket and read until its first audio bytes."""
    body = json.dumps(speech_body(input=TEXT, response_format="pcm", **changes)).encode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    head = f"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    return sock


def test_a_full_queue_answers_429_with_retry_after(serve, gated) -> None:
    server = serve(queue=1)
    held = open_speech(server, voice="held")  # its second sentence waits for the gate
    try:
        status, headers, body = server.request("POST", "/v1/audio/speech", speech_body())
        assert status == 429
        assert int(headers["retry-after"]) > 0
        assert error_of(body)["code"] == "queue_full"
    finally:
        gated.set()
        held.close()
    until(lambda: server.service.active == 0, "the held request ended")
    assert server.request("POST", "/v1/audio/speech", speech_body())[0] == 200


def test_a_client_that_goes_away_stops_the_synthesis(serve, gated) -> None:
    server = serve()
    sock = open_speech(server, voice="held")
    sock.close()  # while the second sentence is held in the engine
    until(lambda: server.service.disconnects == 1, "the disconnect was noticed")
    gated.set()
    until(lambda: server.service.active == 0, "the request ended")
    # The sentence in the engine (if the second had reached it) finished; none after it
    # was started.
    assert spoken() in (SENTENCES[:1], SENTENCES[:2])


def test_concurrent_requests_share_one_engine(serve, tmp_path) -> None:
    server = serve()
    results: list[int] = []

    def ask() -> None:
        results.append(server.request("POST", "/v1/audio/speech", speech_body())[0])

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 6
    assert server.service.pool.loads == 1


def test_loaded_voices_are_a_bounded_lru(serve, user_dirs: Path) -> None:
    for name in ("one", "two"):
        (user_dirs / f"{name}.toml").write_text(
            FAKE_PRESET.replace('"fake"', f'"{name}"', 1).replace('"tone"', f'"{name}"')
        )
    server = serve(voices_loaded=1)
    for name in ("one", "two", "one", "one"):
        assert server.request("POST", "/v1/audio/speech", speech_body(voice=name))[0] == 200
    assert server.service.pool.loads == 3  # one, two (one closed), one again
    assert server.service.pool.loaded() == 1


# -- narration jobs ------------------------------------------------------------------------

BOOK = "# The Keeper\n\n" + " ".join(SENTENCES[:2]) + "\n\n# The Ship\n\n" + " ".join(SENTENCES[2:])


def job_status(server: Running, job_id: str) -> dict[str, Any]:
    status, _, body = server.request("GET", f"/v1/narrations/{job_id}")
    assert status == 200, body
    return json.loads(body)


def test_a_job_narrates_with_progress_and_downloads(serve, tmp_path: Path) -> None:
    server = serve()
    options = {"input": BOOK, "voice": "fake", "format": "flac", "subtitles": "srt",
               "title": "Lighthouse", "author": "Anon", "sentence_pause": 0.3}  # fmt: skip
    status, _, body = server.request("POST", "/v1/narrations", options)
    assert status == 202, body
    job = json.loads(body)
    assert job["id"].startswith("nar_") and job["status"] in ("queued", "running")
    done = until(lambda: (s := job_status(server, job["id"]))["status"] == "completed" and s,
                 "the job finished")  # fmt: skip
    assert done["progress"]["sentences_done"] == done["progress"]["sentences_total"] == 6
    assert done["progress"]["audio_seconds"] > SPOKEN
    assert [c["title"] for c in done["chapters"]] == ["The Keeper", "The Ship"]
    status, headers, audio = server.request("GET", done["audio_url"])
    assert status == 200 and headers["content-type"] == "audio/flac"
    path = tmp_path / "job.flac"
    path.write_bytes(audio)
    decoded = decode_ffmpeg(path)
    assert decoded.duration == pytest.approx(done["result"]["duration"], abs=0.01)
    assert done["result"]["loudness"] == pytest.approx(-18, abs=1)
    status, _, subtitles = server.request("GET", done["subtitles_url"])
    assert status == 200
    assert "The lighthouse keeper climbed the stairs." in subtitles.decode()
    assert subtitles.decode().startswith("1\n00:00:")


def test_job_options_are_checked(serve) -> None:
    server = serve()
    wrong = [({"voice": "../x"}, "invalid_voice"), ({"format": "doc"}, None),
             ({"loudness": 3}, None), ({"shell": "rm"}, None), ({"subtitles": "ass"}, None),
             ({"speed": 9}, "invalid_voice")]  # fmt: skip
    for options, code in wrong:
        status, _, body = server.request("POST", "/v1/narrations", {"input": "Hi.", **options})
        assert status == 400, options
        assert error_of(body)["code"] == (code or "invalid_value")
    assert server.request("GET", "/v1/narrations/../../etc")[0] == 404
    assert server.request("GET", "/v1/narrations/nar_" + "0" * 32)[0] == 404


def test_a_job_is_cancelled(serve, gated, tmp_path: Path) -> None:
    server = serve()
    status, _, body = server.request("POST", "/v1/narrations", {"input": TEXT, "voice": "held"})
    job_id = json.loads(body)["id"]
    until(lambda: job_status(server, job_id)["progress"]["sentences_done"] == 1, "one sentence")
    status, _, body = server.request("GET", f"/v1/narrations/{job_id}/audio")
    assert status == 409 and error_of(body)["code"] == "not_ready"
    status, _, body = server.request("DELETE", f"/v1/narrations/{job_id}")
    assert status == 200 and json.loads(body)["deleted"] is True
    gated.set()
    folder = tmp_path / "state" / "jobs" / job_id
    until(lambda: not folder.exists(), "the job's files were removed")
    assert server.request("GET", f"/v1/narrations/{job_id}")[0] == 404
    assert spoken() == SENTENCES[:2]


def test_a_job_resumes_after_a_restart(serve, gated, tmp_path: Path) -> None:
    HeldEngine.free = 3
    first = serve()
    status, _, body = first.request("POST", "/v1/narrations",
                                    {"input": TEXT, "voice": "held", "format": "wav"})  # fmt: skip
    job_id = json.loads(body)["id"]
    until(lambda: job_status(first, job_id)["progress"]["sentences_done"] == 3, "3 sentences")
    stopping = threading.Thread(target=first.stop)
    stopping.start()  # the job stops after the sentence held in the engine
    until(lambda: first.service.jobs._stopping, "the server is stopping")
    gated.set()
    stopping.join()
    saved = json.loads((tmp_path / "state" / "jobs" / job_id / "job.json").read_text())
    assert saved["status"] == "running"
    FakeEngine.calls.clear()
    second = serve()  # the same state folder and clip cache
    done = until(lambda: (s := job_status(second, job_id))["status"] == "completed" and s,
                 "the resumed job finished")  # fmt: skip
    assert done["result"]["cache_hits"] == 4 and done["result"]["synthesized"] == 0
    assert spoken() == []
    assert second.request("GET", done["audio_url"])[0] == 200


# -- SIGTERM -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sigterm_drains_requests_in_flight_then_exits_0(user_dirs: Path, tmp_path) -> None:
    (user_dirs / "slow.toml").write_text(FAKE_PRESET.replace('"fake"', '"slow"'))
    port = free_port()
    root = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.serve_main", "serve", "--port", str(port),
         "--state-dir", str(tmp_path / "state")],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def healthy() -> bool:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            return False

        until(healthy, "the server listens")
        # 12 sentences of 0.1 s each in the slow engine
        text = " ".join(SENTENCES * 3)
        body = json.dumps(speech_body(voice="slow", input=text, response_format="pcm"))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        connection.request("POST", "/v1/audio/speech", body=body)
        response = connection.getresponse()
        assert response.status == 200
        first = response.read1(65536)
        process.send_signal(signal.SIGTERM)
        data = first + response.read()  # the whole reply still comes
        rate = int(response.getheader("x-sample-rate"))
        pcm = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768
        assert speech_seconds(pcm, rate) == pytest.approx(3 * SPOKEN, abs=0.5)
        _, stderr = process.communicate(timeout=WAIT)
        assert process.returncode == 0, stderr.decode()
        assert b"Traceback" not in stderr
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_waiting_jobs_are_bounded(serve, gated) -> None:
    server = serve(queue=1)
    body = {"input": TEXT, "voice": "held"}
    first = json.loads(server.request("POST", "/v1/narrations", body)[2])["id"]
    until(lambda: job_status(server, first)["status"] == "running", "the first job runs")
    assert server.request("POST", "/v1/narrations", body)[0] == 202  # waits
    status, headers, reply = server.request("POST", "/v1/narrations", body)
    assert status == 429 and int(headers["retry-after"]) > 0
    assert error_of(reply)["type"] == "rate_limit_error"
    gated.set()
    listed = json.loads(server.request("GET", "/v1/narrations")[2])["data"]
    assert [job["id"] for job in listed][0] == first and len(listed) == 2


def test_a_failing_job_says_why(serve, failing_voice) -> None:
    server = serve()
    status, _, body = server.request("POST", "/v1/narrations", {"input": TEXT, "voice": "failing"})
    job_id = json.loads(body)["id"]
    failed = until(lambda: (s := job_status(server, job_id))["status"] == "failed" and s,
                   "the job failed")  # fmt: skip
    assert failed["error"]["message"] == "the failing engine failed on call 2 on purpose"
    status, _, body = server.request("GET", f"/v1/narrations/{job_id}/audio")
    assert status == 409 and error_of(body)["code"] == "not_ready"
    # The server goes on.
    assert server.request("POST", "/v1/audio/speech", speech_body())[0] == 200


def test_engine_turns_are_first_come_first_served() -> None:
    from narrator.server.engines import Turns

    turns = Turns(1)
    order: list[int] = []
    turns.__enter__()  # held, so that the others queue up
    threads = []
    for number in range(5):
        thread = threading.Thread(target=lambda n=number: (turns.__enter__(), order.append(n),
                                                           turns.__exit__()))  # fmt: skip
        thread.start()
        until(lambda n=number: len(turns._waiting) == n + 1, "the thread waits")
        threads.append(thread)
    turns.__exit__()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2, 3, 4]


def test_a_taken_port_is_one_clear_error() -> None:
    from narrator.errors import NarratorError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(NarratorError, match=rf"^cannot listen on 127.0.0.1:{port}: "):
            listen_on("127.0.0.1", port)


def test_a_resubmitted_job_takes_its_clips_from_the_cache(serve) -> None:
    server = serve()
    results = []
    for _ in range(2):
        body = server.request("POST", "/v1/narrations", {"input": TEXT, "voice": "fake"})[2]
        job_id = json.loads(body)["id"]
        done = until(lambda j=job_id: (s := job_status(server, j))["status"] == "completed" and s,
                     "the job finished")  # fmt: skip
        results.append(done["result"])
    assert (results[0]["synthesized"], results[0]["cache_hits"]) == (4, 0)
    assert (results[1]["synthesized"], results[1]["cache_hits"]) == (0, 4)
    assert spoken() == SENTENCES
