"""The HTTP application: OpenAI's speech API, narration jobs, and the safety around them."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..engines import DEVICES, ON_DISK, UNKNOWN, model_status
from ..errors import EngineError, InputError, NarratorError, OptionError, VoiceError
from ..rendering import Rendering
from ..voices import MAX_SPEED, MIN_SPEED, list_voices
from .engines import EnginePool
from .jobs import COMPLETED, JobManager, QueueFull
from .voices import OPENAI_VOICES, VoiceRequestError, resolve

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
"""Only this machine can connect unless ``--host`` says otherwise."""

DEFAULT_PORT = 8880
"""The port Kokoro-FastAPI uses, so that clients set up for it find narrator there too."""

DEFAULT_MAX_INPUT_CHARS = 20_000
"""The longest ``input`` of a speech request, in characters (OpenAI takes 4096); longer
texts are narration jobs."""

DEFAULT_QUEUE = 16
"""Speech requests admitted at once (synthesizing, or waiting for their voice's engine),
and narration jobs waiting; one more is answered 429."""

DEFAULT_VOICES_LOADED = 2
"""Voices whose engines stay loaded between requests."""

MAX_JOB_BYTES = 32 * 1024 * 1024
"""The largest body of a narration job request (the text of a long book in JSON)."""

BODY_OVERHEAD = 16 * 1024
"""Bytes a speech request's body may hold beyond its input (the other fields)."""

RETRY_AFTER = 2
"""Seconds a client answered 429 is told to wait (the Retry-After header)."""

BUFFERED_CHUNKS = 16
"""Encoded pieces of audio a stream keeps ready for a slow client before synthesis waits."""

DRAIN_SECONDS = 300
"""On SIGTERM, seconds the server waits for requests in flight before it cuts them off."""

SPEECH_LEAD_IN = 0.1
SPEECH_TAIL = 0.3
"""Seconds of room tone before and after the speech of an ``/v1/audio/speech`` reply (a
reply, not an audiobook: the first word comes sooner than ``narrator read``'s 0.6 s)."""

MODELS = ("narrator", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""The ``model`` names a speech request may give: all are narrator (the voice decides
how it sounds); OpenAI's are accepted so that clients set up for OpenAI work unchanged."""

MEDIA_TYPES = {
    "mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
    "wav": "audio/wav", "pcm": "audio/pcm",
}  # fmt: skip
"""``response_format`` -> the Content-Type of the reply."""

STATE_DIR_ENV = "NARRATOR_STATE_DIR"


def default_state_dir() -> Path:
    """Where the server keeps its jobs: narrator's user data folder."""
    return Path(platformdirs.user_data_dir("narrator", appauthor=False)) / "server"


@dataclass
class Settings:
    """How the server runs (the options of ``narrator serve``)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    """When set, every ``/v1`` request must carry ``Authorization: Bearer <key>``."""
    max_input_chars: int = DEFAULT_MAX_INPUT_CHARS
    queue: int = DEFAULT_QUEUE
    voices_loaded: int = DEFAULT_VOICES_LOADED
    state_dir: Path = field(default_factory=default_state_dir)
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise OptionError(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        for name in ("max_input_chars", "queue", "voices_loaded"):
            if getattr(self, name) < 1:
                raise OptionError(f"{name.replace('_', '-')} must be at least 1")


class ApiError(Exception):
    """An error answered in OpenAI's shape."""

    def __init__(
        self, status: int, message: str, *, kind: str = "invalid_request_error",
        param: str | None = None, code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind
        self.param, self.code, self.headers = param, code, headers

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.code}}  # fmt: skip
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def from_narrator(exc: BaseException, param: str | None = None) -> ApiError:
    """A narrator exception as the API error it is."""
    if isinstance(exc, VoiceRequestError):
        return ApiError(400, str(exc), param="voice", code=exc.code)
    if isinstance(exc, VoiceError):
        return ApiError(400, str(exc), param="voice", code="invalid_voice")
    if isinstance(exc, (InputError, OptionError)):
        return ApiError(400, str(exc), param=param, code="invalid_value")
    if isinstance(exc, QueueFull):
        return busy(str(exc))
    if isinstance(exc, EngineError):
        return ApiError(500, str(exc), kind="server_error", code="engine_error")
    if isinstance(exc, NarratorError):
        return ApiError(500, str(exc), kind="server_error")
    logger.error("request failed", exc_info=exc)
    return ApiError(500, f"internal error: {type(exc).__name__}", kind="server_error")


def busy(message: str) -> ApiError:
    return ApiError(429, f"the server is busy: {message}; try again shortly",
                    kind="rate_limit_error", code="queue_full",
                    headers={"Retry-After": str(RETRY_AFTER)})  # fmt: skip


class Service:
    """What the requests share: the settings, the loaded engines, the jobs, the queue."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pool = EnginePool(settings.voices_loaded, settings.device)
        self.jobs = JobManager(Path(settings.state_dir), self.pool, settings.queue)
        self._lock = threading.Lock()
        self.active = 0
        """Speech requests admitted and not finished (their synthesis included)."""
        self.disconnects = 0
        """Speech replies whose client went away before the end."""

    def admit(self) -> None:
        with self._lock:
            if self.active >= self.settings.queue:
                raise busy(f"{self.active} speech requests are in progress")
            self.active += 1

    def release(self) -> None:
        with self._lock:
            self.active -= 1

    def disconnected(self) -> None:
        with self._lock:
            self.disconnects += 1


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, read up to *limit* bytes (413 beyond)."""
    declared = request.headers.get("content-length")
    too_large = ApiError(413, f"the request body is larger than {limit} bytes",
                         code="request_too_large")  # fmt: skip
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            raise too_large
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object", code="invalid_json")
    return data


def _text(data: dict[str, Any], limit: int) -> str:
    text = data.get("input")
    if not isinstance(text, str):
        raise ApiError(
            400,
            "input must be the text to speak (a string)",
            param="input",
            code="invalid_value" if "input" in data else "missing_required_parameter",
        )
    if len(text) > limit:
        raise ApiError(413, f"input is {len(text)} characters long; the most is {limit} "
                            "(use /v1/narrations for long texts)",
                       param="input", code="input_too_long")  # fmt: skip
    if not text.strip():
        raise ApiError(400, "input is empty", param="input", code="invalid_value")
    return text


def _voice_name(data: dict[str, Any]) -> object:
    voice = data.get("voice")
    if isinstance(voice, dict):  # OpenAI's custom voice object: {"id": ...}
        voice = voice.get("id")
    if voice is None:
        raise ApiError(400, "voice is required", param="voice", code="missing_required_parameter")
    return voice


# -- /v1/audio/speech ------------------------------------------------------------------


async def speech(request: Request) -> Response:
    service = _service(request)
    service.admit()
    try:
        settings = service.settings
        data = await read_json(request, settings.max_input_chars * 4 + BODY_OVERHEAD)
        text = _text(data, settings.max_input_chars)
        model = data.get("model", "narrator")
        if model not in MODELS:
            raise ApiError(400, f"unknown model {str(model)[:100]!r}; models: "
                                f"{', '.join(MODELS)}", param="model",
                           code="model_not_found")  # fmt: skip
        fmt = data.get("response_format", "mp3")
        if fmt not in MEDIA_TYPES:
            raise ApiError(400, f"response_format must be one of {', '.join(MEDIA_TYPES)}",
                           param="response_format", code="invalid_value")  # fmt: skip
        if data.get("stream_format", "audio") != "audio":
            raise ApiError(400, "only stream_format 'audio' is supported (not 'sse')",
                           param="stream_format", code="invalid_value")  # fmt: skip
        speed = data.get("speed", 1.0)
        if (not isinstance(speed, (int, float)) or isinstance(speed, bool)
                or not MIN_SPEED <= speed <= MAX_SPEED):  # fmt: skip
            raise ApiError(400, f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}",
                           param="speed", code="invalid_value")  # fmt: skip
        name = _voice_name(data)
        try:
            choice = await asyncio.to_thread(resolve, name)
            voice = choice.voice
            if speed != 1.0:
                voice = voice.with_options(speed=voice.speed * speed)
        except NarratorError as exc:
            raise from_narrator(exc, "voice") from None
        reply = _AudioReply(service, text, voice, fmt)
    except BaseException:
        service.release()
        raise
    return reply


_END = object()


class _AudioReply(Response):
    """Audio sent as it is synthesized; synthesis stops when the client goes away."""

    def __init__(self, service: Service, text: str, voice: Any, fmt: str) -> None:
        self.service, self.text, self.voice, self.fmt = service, text, voice, fmt
        self.cancel = threading.Event()
        self.status_code = 200
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        credits = threading.Semaphore(BUFFERED_CHUNKS)
        cancel = self.cancel

        def post(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is gone
                loop.call_soon_threadsafe(items.put_nowait, item)

        def produce() -> None:
            from ..streaming import stream_bytes

            try:
                with self.service.pool.engine(self.voice) as engine:
                    post(("rate", engine.sample_rate))
                    rendering = Rendering(lead_in=SPEECH_LEAD_IN, tail=SPEECH_TAIL)
                    chunks = stream_bytes(self.text, format=self.fmt, voice=self.voice,
                                          engine=engine, rendering=rendering,
                                          cancel=cancel)  # fmt: skip
                    try:
                        for chunk in chunks:
                            while not credits.acquire(timeout=0.1):
                                if cancel.is_set():
                                    return
                            post(chunk)
                    finally:
                        close = getattr(chunks, "close", None)
                        if close is not None:
                            close()
            except BaseException as exc:
                post(exc)
            finally:
                post(_END)
                self.service.release()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            if not finished:
                cancel.set()
                self.service.disconnected()

        finished = False
        watcher = asyncio.create_task(watch())
        producer = threading.Thread(target=produce, name="narrator-speech", daemon=True)
        producer.start()
        started = False
        try:
            headers = {"content-type": MEDIA_TYPES[self.fmt]}
            while True:
                item = await items.get()
                if isinstance(item, tuple):
                    headers["x-sample-rate"] = str(item[1])
                    continue
                if isinstance(item, BaseException):
                    if started:
                        logger.error("speech stopped: %s", item)
                        return  # the connection closes without the last chunk
                    await from_narrator(item, "input").response()(scope, receive, send)
                    return
                if not started:
                    started = True
                    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
                    await send({"type": "http.response.start", "status": 200, "headers": raw})
                if item is _END:
                    finished = True
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                credits.release()
                await send({"type": "http.response.body", "body": item, "more_body": True})
        except OSError:  # the client went away while we sent
            cancel.set()
        finally:
            if not finished:
                cancel.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


# -- models and voices -------------------------------------------------------------------


async def models(request: Request) -> Response:
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "narrator"}
            for name in MODELS]  # fmt: skip
    return JSONResponse({"object": "list", "data": data})


def _installed_voices() -> dict[str, Any]:
    rows = []
    installed = set()
    for voice in list_voices([]):
        status = model_status(voice)
        if status not in (*ON_DISK, UNKNOWN):
            continue
        installed.add(voice.name)
        rows.append({"id": voice.name, "object": "voice", "name": voice.name,
                     "engine": voice.engine, "language": voice.language,
                     "description": voice.description, "license": voice.license,
                     "status": status})  # fmt: skip
    aliases = {}
    for alias, candidates in OPENAI_VOICES.items():
        usable = [c for c in candidates if c in installed]
        if usable:
            aliases[alias] = usable[0]
    return {"object": "list", "data": rows, "voices": [r["id"] for r in rows],
            "openai_voices": aliases}  # fmt: skip


async def voices(request: Request) -> Response:
    return JSONResponse(await asyncio.to_thread(_installed_voices))


# -- /v1/narrations ------------------------------------------------------------------------


async def start_narration(request: Request) -> Response:
    service = _service(request)
    data = await read_json(request, MAX_JOB_BYTES)
    text = data.pop("input", None)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "input must be the text to narrate (a non-empty string)",
                       param="input", code="invalid_value")  # fmt: skip
    data.pop("model", None)
    if "response_format" in data and "format" not in data:
        data["format"] = data.pop("response_format")
    try:
        job = await asyncio.to_thread(service.jobs.submit, text, data)
    except NarratorError as exc:
        raise from_narrator(exc) from None
    return JSONResponse(job.view(), status_code=202)


def _job(request: Request) -> Any:
    job = _service(request).jobs.get(request.path_params["id"])
    if job is None:
        raise ApiError(404, "no such narration", param="id", code="not_found")
    return job


async def list_narrations(request: Request) -> Response:
    views = [job.view() for job in _service(request).jobs.all()]
    return JSONResponse({"object": "list", "data": views})


async def narration(request: Request) -> Response:
    return JSONResponse(_job(request).view())


async def delete_narration(request: Request) -> Response:
    job = _service(request).jobs.delete(request.path_params["id"])
    if job is None:
        raise ApiError(404, "no such narration", param="id", code="not_found")
    return JSONResponse({"id": job.id, "object": "narration", "deleted": True,
                         "status": job.status})  # fmt: skip


def _download(which: str) -> Callable[[Request], Awaitable[Response]]:
    async def download(request: Request) -> Response:
        service = _service(request)
        job = _job(request)
        path = service.jobs.file(job, which)
        if path is None:
            if job.status == COMPLETED:
                raise ApiError(404, f"this narration has no {which}", code="not_found")
            raise ApiError(409, f"the narration is {job.status}, not completed",
                           code="not_ready")  # fmt: skip
        from ..rendering import AudioFormat

        fmt = path.suffix.lstrip(".")
        media = {"srt": "application/x-subrip", "vtt": "text/vtt"}.get(fmt)
        if media is None:
            media = MEDIA_TYPES.get(fmt, f"audio/{AudioFormat(fmt).value}")
        return FileResponse(path, media_type=media, filename=f"{job.id}.{fmt}")

    return download


# -- the application ---------------------------------------------------------------------


class _Guard:
    """Checks the API key (in constant time) and answers every error in OpenAI's shape."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.key = api_key.encode("utf-8") if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.key is not None and scope["path"] != "/health":
            given = b""
            for name, value in scope.get("headers", []):
                if name == b"authorization":
                    given = value
            scheme, _, token = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self.key):
                error = ApiError(401, "a valid API key is required: Authorization: Bearer KEY",
                                 code="invalid_api_key",
                                 headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return ApiError(exc.status_code, str(exc.detail), code=code).response()


async def _internal_error(request: Request, exc: Exception) -> Response:
    return from_narrator(exc).response()


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None) -> ASGIApp:
    """The ASGI application of ``narrator serve``."""
    settings = settings or Settings()
    service = Service(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(service.jobs.start)
        try:
            yield
        finally:
            await asyncio.to_thread(service.jobs.stop)
            service.pool.close()

    routes = [
        Route("/health", health),
        Route("/v1/audio/speech", speech, methods=["POST"]),
        Route("/v1/models", models),
        Route("/v1/audio/voices", voices),
        Route("/v1/narrations", start_narration, methods=["POST"]),
        Route("/v1/narrations", list_narrations, methods=["GET"]),
        Route("/v1/narrations/{id}", narration, methods=["GET"]),
        Route("/v1/narrations/{id}", delete_narration, methods=["DELETE"]),
        Route("/v1/narrations/{id}/audio", _download("audio"), methods=["GET"]),
        Route("/v1/narrations/{id}/subtitles", _download("subtitles"), methods=["GET"]),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error,
                            Exception: _internal_error},
    )  # fmt: skip
    app.state.service = service
    guarded = _Guard(app, settings.api_key)
    guarded.service = service  # type: ignore[attr-defined]
    return guarded
