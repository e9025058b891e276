"""The ``narrator`` command: a thin click layer over the library."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import stat
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import NarratorError, OutputError
from .rendering import (
    DEFAULT_BITRATE,
    DEFAULT_HEADING_PAUSE,
    DEFAULT_LOUDNESS,
    DEFAULT_PARAGRAPH_PAUSE,
    DEFAULT_SCENE_PAUSE,
    DEFAULT_SENTENCE_PAUSE,
    DEFAULT_TRUE_PEAK,
    AudioFormat,
    Rendering,
    parse_bitrate,
)
from .voices import DEFAULT_VOICE, MAX_SEED

STDOUT = STDIN = "-"

logger = logging.getLogger("narrator")


def _fail(exc: NarratorError) -> None:
    _say(f"narrator: error: {exc}")
    sys.exit(exc.exit_code)


def _say(message: str, err: bool = True) -> None:
    """Print a line; a reader that went away (a closed pipe) or a closed stream does not
    fail the run."""
    try:
        click.echo(message, err=err)
    except OSError:
        _silence(sys.stderr if err else sys.stdout)


def _silence(stream: Any) -> None:
    """Point a stream whose reader went away at /dev/null, so that Python's flush at exit
    finds nothing left to fail on."""
    if stream is None:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


class _Group(click.Group):
    """Turns narrator's errors and interruptions into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NarratorError as exc:
            _fail(exc)
        except KeyboardInterrupt:
            click.echo("narrator: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # the audio on standard output was cut short
            _silence(sys.stdout)
            sys.exit(141)


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.WARNING
    if verbose:
        level = logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("narrator: %(levelname)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="narrator")
def cli() -> None:
    """Narrate text files into audiobook-quality audio with local neural voices."""


def _license_option(command: Any) -> Any:
    return click.option(
        "--accept-coqui-license", is_flag=True,
        help="Accept the Coqui Public Model License (non-commercial) that XTTS voices are "
             "under; the same as NARRATOR_ACCEPT_COQUI_LICENSE=1.",
    )(command)  # fmt: skip


def _accept_license(accepted: bool) -> None:
    if accepted:
        from .engines.coqui import LICENSE_ENV

        os.environ[LICENSE_ENV] = "1"


_lexicon_option = click.option(
    "--lexicon", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
    help="Pronunciation lexicon (TOML: [words] and [patterns] respellings); wins over the "
         "voice's own.",
)  # fmt: skip


def _max_input_size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from .text.reader import parse_size

    try:
        return parse_size(value)
    except NarratorError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


# The default is narrator.text.reader.MAX_INPUT_BYTES (a test keeps the two equal).
_max_input_option = click.option(
    "--max-input-size", "max_input", default="64M", show_default=True, metavar="SIZE",
    envvar="NARRATOR_MAX_INPUT", show_envvar=True, callback=_max_input_size,
    help="Refuse an input larger than this (bytes, or with K, M or G), so that an endless "
         "pipe ends in an error.",
)  # fmt: skip


def _voice_option(help_text: str) -> Any:
    return click.option("-v", "--voice", "voice", default=DEFAULT_VOICE, show_default=True,
                        help=help_text)  # fmt: skip


class _FloatRange(click.FloatRange):
    """A float in a range, never NaN or infinite (NaN compares false with both bounds)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def _seconds(name: str, default: float, help_text: str) -> Any:
    return click.option(
        name, type=_FloatRange(0, 60), default=default, show_default=True,
        metavar="SECONDS", help=help_text,
    )  # fmt: skip


@cli.command()
@click.argument("input", metavar="INPUT", type=str)
@click.option("-o", "--output", metavar="FILE",
              help="Output file, or - for standard output. [default: INPUT's name with the "
                   "format's suffix]")  # fmt: skip
@_voice_option(
    "Voice preset name (see `narrator voices`), a preset .toml file, or auto: "
    "the best installed voice for the text's language."
)
@click.option(
    "--speed",
    type=_FloatRange(0.25, 4.0),
    default=None,
    help="Speaking rate; 1.0 is the voice's own, 1.2 is 20% faster.",
)
@click.option("--speaker", default=None, help="Speaker of a multi-speaker voice.")
@click.option(
    "--speaker-wav",
    "speaker_wav",
    multiple=True,
    metavar="FILE",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A recording of the voice to clone (XTTS); repeat for several.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, MAX_SEED),
    default=None,
    metavar="N",
    help="Seed for the model's random sampling; the same seed gives the same audio.",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the model runs; auto picks cuda when available.",
)
@_license_option
@_seconds("--sentence-pause", DEFAULT_SENTENCE_PAUSE, "Silence between sentences.")
@_seconds("--paragraph-pause", DEFAULT_PARAGRAPH_PAUSE, "Silence between paragraphs.")
@_seconds("--scene-pause", DEFAULT_SCENE_PAUSE, "Silence at a scene break (***, ---).")
@_seconds(
    "--heading-pause",
    DEFAULT_HEADING_PAUSE,
    "Silence after a heading (at least the paragraph pause).",
)
@click.option(
    "--loudness",
    type=_FloatRange(-50, -5),
    default=DEFAULT_LOUDNESS,
    show_default=True,
    metavar="LUFS",
    help="Target integrated loudness.",
)
@click.option(
    "--true-peak",
    type=_FloatRange(-20, 0),
    default=DEFAULT_TRUE_PEAK,
    show_default=True,
    metavar="DBTP",
    help="True-peak ceiling.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice([f.value for f in AudioFormat]),
    default=None,
    help="Output format. [default: from the output suffix, else mp3]",
)
@click.option(
    "--bitrate",
    default=f"{DEFAULT_BITRATE}k",
    show_default=True,
    help="Bitrate of lossy formats, in kbit/s.",
)
@click.option("--title", default=None, help="Title tag. [default: the first heading]")
@_lexicon_option
@_max_input_option
@click.option(
    "--author", default=None, help="Author tag; the voice is then tagged as the narrator."
)
@click.option(
    "--subtitles",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also write subtitles, one cue per sentence (.srt or .vtt).",
)
@click.option(
    "--split-chapters",
    is_flag=True,
    help="Also write one file per chapter (heading) beside the output.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes synthesizing at once (CPU engines).",
)
@click.option(
    "--no-cache", is_flag=True, help="Neither use nor fill the clip cache (see `narrator cache`)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON summary on stdout at the end (needs -o FILE).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or messages, only errors.")
@click.option("--verbose", count=True, help="More messages on stderr (twice for debug).")
def read(
    input: str, output: str | None, voice: str, speed: float | None, speaker: str | None,
    speaker_wav: tuple[Path, ...], seed: int | None, device: str, accept_coqui_license: bool,
    sentence_pause: float, paragraph_pause: float, scene_pause: float, heading_pause: float,
    loudness: float, true_peak: float, fmt: str | None, bitrate: str, title: str | None,
    lexicon: Path | None, max_input: int, author: str | None, subtitles: Path | None,
    split_chapters: bool, jobs: int, no_cache: bool, as_json: bool, quiet: bool, verbose: int,
) -> None:  # fmt: skip
    """Narrate INPUT (a text or Markdown file, or - for stdin) into one audio file."""
    from .engines import load_engine_in_background
    from .voices import load_voice

    _setup_logging(verbose, quiet)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        kbps = parse_bitrate(bitrate)
    except NarratorError as exc:
        raise click.BadParameter(str(exc), param_hint="--bitrate") from None
    if output is None:
        if input == STDIN:
            raise click.UsageError("reading standard input needs -o FILE (or -o - for stdout)")
        output = Path(input).with_suffix(f".{fmt or 'mp3'}").name
    audio_format = _output_format(output, fmt)
    tags = {key: value for key, value in (("title", title), ("author", author)) if value}
    rendering = Rendering(
        sentence_pause=sentence_pause, paragraph_pause=paragraph_pause,
        heading_pause=heading_pause, scene_pause=scene_pause, loudness=loudness,
        true_peak=true_peak, format=audio_format, bitrate=kbps, tags=tags,
    )  # fmt: skip
    _accept_license(accept_coqui_license)
    from .language import AUTO_VOICE, auto_voice
    from .text import open_input

    text = None
    if voice == AUTO_VOICE:  # the text decides the voice: read it first
        with open_input(input) as early:
            text = early.read(max_input)
    chosen = (auto_voice(text) if text is not None else load_voice(voice)).with_options(
        speaker=speaker, speed=speed, speaker_wav=speaker_wav, seed=seed
    )
    if as_json and output == STDOUT:
        raise click.UsageError("--json prints the summary on stdout, so it needs -o FILE")
    if output == STDOUT and sys.stdout is None:
        raise OutputError("standard output is closed; give -o FILE")
    stream = sys.stdout.buffer if output == STDOUT and sys.stdout is not None else None
    if stream is not None and stream.isatty():
        raise click.UsageError("refusing to write audio to a terminal; redirect standard output")
    # A missing file, a folder or a closed stdin fails now; the input is read once, later.
    source = open_input(input) if text is None else None
    # The model loads (mostly outside the GIL) while the rest of narrator is imported
    # and the text is read and split.
    engine = load_engine_in_background(chosen, device=device)
    from .pipeline import narrate

    if source is not None:
        with source:
            text = source.read(max_input)
    assert text is not None
    show = not quiet and sys.stderr is not None and sys.stderr.isatty()
    started = time.perf_counter()
    with _Progress(show) as progress:
        result = narrate(
            text, stream if stream is not None else output, voice=chosen, rendering=rendering,
            device=device, engine=engine, progress=progress.update,
            fallback_title=None if input == STDIN else _title_from_name(input),
            cache=not no_cache, jobs=jobs, subtitles=subtitles, split_chapters=split_chapters,
            lexicon=lexicon, inputs=[_input_file(input)],
        )  # fmt: skip
    # The files are complete: a reader of the messages that went away fails nothing.
    if as_json:
        _say(json.dumps(result.summary(), indent=2, allow_nan=False), err=False)
    if not quiet:
        where = "standard output" if stream is not None else output
        elapsed = time.perf_counter() - started
        count = len(result.segments)
        reused = f", {result.stats.cache_hits} from the cache" if result.stats.cache_hits else ""
        _say(
            f"narrator: wrote {where}: {_clock(result.duration)} of audio, "
            f"{count} segment{'s' if count != 1 else ''}{reused}, "
            f"{result.mastered.loudness:.1f} LUFS, in {elapsed:.1f} s "
            f"(real-time factor {elapsed / max(result.duration, 1e-9):.3f})"
        )
        for path in result.chapter_files:
            _say(f"narrator: wrote {path}")
        if subtitles is not None:
            _say(f"narrator: wrote {subtitles}")


def _input_file(input: str) -> str:
    """The file INPUT names (standard input's, when it is redirected from one), which no
    output may replace."""
    return "/dev/stdin" if input == STDIN else input


def _output_format(output: str, fmt: str | None) -> AudioFormat:
    if fmt is not None:
        chosen = AudioFormat.parse(fmt)
        suffix = AudioFormat.from_suffix(Path(output).suffix) if output != STDOUT else None
        if suffix is not None and suffix is not chosen:
            raise click.BadParameter(
                f"--format {fmt} does not match the output suffix {Path(output).suffix}",
                param_hint="--format",
            )
        return chosen
    if output == STDOUT or _is_stream(output):
        return AudioFormat.MP3
    suffix = AudioFormat.from_suffix(Path(output).suffix)
    if suffix is None:
        known = ", ".join(f".{f.value}" for f in AudioFormat)
        raise click.BadParameter(
            f"cannot tell the format of {output!r}; use a suffix ({known}) or --format",
            param_hint="--output",
        )
    return suffix


def _is_stream(path: str) -> bool:
    """Whether *path* is a character device (such as /dev/null) or a FIFO."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def _title_from_name(path: str) -> str:
    return Path(path).stem.replace("_", " ").replace("-", " ").strip().title()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Progress:
    """A progress bar on a terminal's stderr; nothing otherwise."""

    def __init__(self, show: bool) -> None:
        self._show = show
        self._bar: Any = None
        self._done = 0

    def __enter__(self) -> _Progress:
        return self

    def update(self, event: Any) -> None:
        if not self._show:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=event.total,
                label="Narrating",
                file=sys.stderr,
                show_eta=True,
                show_pos=True,
                item_show_func=lambda minutes: minutes,
            )
            self._bar.__enter__()
        self._bar.update(event.done - self._done, f"{event.audio_seconds / 60:.1f} min of audio")
        self._done = event.done

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@cli.command()
@click.argument("input", metavar="INPUT", type=str)
@_voice_option("Voice preset, for its language (auto: from the text).")
@_seconds("--sentence-pause", DEFAULT_SENTENCE_PAUSE, "Silence between sentences.")
@_seconds("--paragraph-pause", DEFAULT_PARAGRAPH_PAUSE, "Silence between paragraphs.")
@_seconds("--heading-pause", DEFAULT_HEADING_PAUSE, "Silence after a heading.")
@_seconds("--scene-pause", DEFAULT_SCENE_PAUSE, "Silence at a scene break (***, ---).")
@_lexicon_option
@_max_input_option
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="A JSON array of segment objects: text, source, kind, boundary, pause, "
    "chunks (as the voice's engine will get them), paragraph, line.",
)
@click.option(
    "--verbose",
    count=True,
    help="Report text that cannot be spoken, with its position (twice for debug).",
)
def split(
    input: str, voice: str, sentence_pause: float, paragraph_pause: float,
    heading_pause: float, scene_pause: float, lexicon: Path | None, max_input: int,
    as_json: bool, verbose: int,
) -> None:  # fmt: skip
    """Show how INPUT is split into spoken segments, without synthesizing."""
    from .engines import engine_class
    from .errors import EngineError
    from .language import AUTO_VOICE, auto_voice, language_mismatch
    from .text import read_text, split_text
    from .voices import load_voice

    _setup_logging(verbose, False)
    text = read_text(input, max_bytes=max_input) if voice == AUTO_VOICE else None
    chosen = auto_voice(text) if text is not None else load_voice(voice)
    rendering = Rendering(sentence_pause=sentence_pause, paragraph_pause=paragraph_pause,
                          heading_pause=heading_pause, scene_pause=scene_pause)  # fmt: skip
    try:
        limit = engine_class(chosen.engine).text_limit(chosen)
    except EngineError as exc:  # an engine that cannot be imported here, say; a broken
        # preset (VoiceError: an unknown engine, a bad option) is an error (exit 3)
        logger.warning("%s; chunks are shown as if the engine took any length", exc)
        limit = None
    if text is None:
        text = read_text(input, max_bytes=max_input)
    mismatch = language_mismatch(text, chosen)
    if mismatch is not None:
        logger.warning("%s", mismatch)
    segments = split_text(text, language=chosen.language, rendering=rendering,
                          lexicon=[lexicon, chosen.lexicon_path()], limit=limit)  # fmt: skip
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in segments], indent=2, ensure_ascii=False))
        return
    for segment in segments:
        click.echo(segment.text)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, for scripts.")
@click.option(
    "--language", "-l", default=None, metavar="CODE",
    help="Only voices of this language: de matches de and de_DE, de_DE only de_DE.",
)  # fmt: skip
@click.pass_context
def voices(ctx: click.Context, as_json: bool, language: str | None) -> None:
    """List the voice presets.

    Each with its engine, language, whether its model is on disk, its size (on disk, or ~
    to download), licence and description, and its quality notes on the line below.
    """
    if ctx.invoked_subcommand is not None:
        return
    from .engines import ON_DISK, model_size, model_status
    from .errors import VoiceError
    from .voices import list_voices, speaks

    broken: list[VoiceError] = []
    found = list_voices(broken)
    for error in broken:
        click.echo(f"narrator: warning: {error}; left out", err=True)
    if language is not None:
        found = [v for v in found if speaks(v, language)]
    statuses = [model_status(v) for v in found]
    sizes = [model_size(v) for v in found]
    if as_json:
        rows = [
            {"name": v.name, "engine": v.engine, "language": v.language,
             "description": v.description, "model": v.model, "speaker": v.speaker,
             "path": str(v.path) if v.path else None, "status": status,
             "on_disk": status in ON_DISK, "size_bytes": size,
             "download_mb": v.size_mb, "license": v.license, "credit": v.credit,
             "notes": v.notes}
            for v, status, size in zip(found, statuses, sizes, strict=True)
        ]  # fmt: skip
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    width = max((len(v.name) for v in found), default=4)
    licence = max((len(v.license or "-") for v in found), default=1)
    for v, status, size in zip(found, statuses, sizes, strict=True):
        click.echo(f"{v.name:<{width}}  {v.engine:<6}  {v.language:<6}  "
                   f"{_ON_DISK.get(status, status):<10}  {_size(size, v.size_mb):>9}  "
                   f"{v.license or '-':<{licence}}  {v.description}")  # fmt: skip
        if v.notes:
            click.echo(f"{'':<{width}}  {v.notes}")


_ON_DISK = {"unknown": "-"}
"""How ``narrator voices`` shows a model status in its on-disk column."""


def _size(on_disk: int | None, download_mb: float | None) -> str:
    """The size column: the model's bytes on disk, else ~ its download, else -."""
    if on_disk is not None:
        return f"{on_disk / 1e6:,.0f} MB"
    if download_mb is not None:
        return f"~{download_mb:,.0f} MB"
    return "-"


@voices.command("download")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@_license_option
def download(names: tuple[str, ...], accept_coqui_license: bool) -> None:
    """Download the models of the voices NAME... now, so that they work offline later.

    Coqui models go to coqui's data folder ($TTS_HOME/tts, by default ~/.local/share/tts)
    or, for XTTS, the Hugging Face cache; Piper voices to narrator's data folder.
    """
    from .engines import download_model
    from .voices import load_voice

    _setup_logging(1, False)
    _accept_license(accept_coqui_license)
    for name in names:
        voice = load_voice(name)
        status = download_model(voice)
        click.echo(f"narrator: {voice.name}: model {voice.model} is on disk ({status})", err=True)


@cli.command()
@click.option("--clear", is_flag=True, help="Delete every cached clip and mastered piece.")
def cache(clear: bool) -> None:
    """Show where the clip cache is and how big it is, or clear it.

    Every synthesized sentence is kept, keyed by its text and everything about
    the voice, so an interrupted narration resumes and an edited one only
    synthesizes what changed; mastered pieces of MP3 and WAV narrations are kept
    too, so an edited one only encodes what changed. NARRATOR_CACHE_DIR moves it.
    """
    from .cache import ClipCache

    clips = ClipCache()
    if clear:
        removed = clips.clear()
        click.echo(f"removed {removed} clip{'s' if removed != 1 else ''} from {clips.directory}")
        return
    count, size = clips.usage()
    click.echo(f"{clips.directory}: {count} clip{'s' if count != 1 else ''}, "
               f"{size / 1e6:.1f} MB")  # fmt: skip


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on; 0.0.0.0 lets other machines connect.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8880, show_default=True)
@click.option(
    "--api-key",
    envvar="NARRATOR_API_KEY",
    show_envvar=True,
    default=None,
    help="Require Authorization: Bearer KEY on every request.",
)
@click.option(
    "--max-input-chars",
    type=click.IntRange(1),
    default=20_000,
    show_default=True,
    help="The longest text of a speech request (longer: 413).",
)
@click.option(
    "--queue",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Speech requests in progress at once, and jobs waiting (more: 429).",
)
@click.option(
    "--voices-loaded",
    type=click.IntRange(1),
    default=2,
    show_default=True,
    help="Voices kept loaded between requests (least recently used go first).",
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar="NARRATOR_STATE_DIR",
    show_envvar=True,
    help="Where narration jobs are kept. [default: narrator's data folder]",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where the models run.",
)
@click.option("--verbose", count=True, help="Log every request (twice for debug).")
def serve(
    host: str, port: int, api_key: str | None, max_input_chars: int, queue: int,
    voices_loaded: int, state_dir: Path | None, device: str, verbose: int,
) -> None:  # fmt: skip
    """Serve OpenAI's speech API (POST /v1/audio/speech) and narration jobs over HTTP.

    Needs the server extra: pip install "narrator-tts[server]". SIGTERM or Ctrl-C
    finishes the requests in flight, then exits 0.
    """
    from .server import Settings, run

    _setup_logging(max(verbose, 1), False)
    settings = Settings(host=host, port=port, api_key=api_key or None,
                        max_input_chars=max_input_chars, queue=queue,
                        voices_loaded=voices_loaded, device=device)  # fmt: skip
    if state_dir is not None:
        settings.state_dir = state_dir
    run(settings, log_level="info" if verbose else "warning", access_log=verbose > 0)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="narrator")
