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


GIL_SWITCH_INTERVAL = 0.001
"""Seconds a thread may hold the GIL while another waits for it, in a narrator command
(Python's default is 0.005): engine threads take the GIL back after every model call, and
whoever holds it then (the mastering, the stitching) would keep them waiting up to the
switch interval; the sample story took 0.1-0.2 s less (7 of 10 pairs).  Set by the
command, which owns the process; the library leaves it alone."""


def _quick_gil_handover() -> None:
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))


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


# --- Books (issue 13): input formats, and the options of EPUB/HTML/PDF input -------------


def _book_options(command: Any) -> Any:
    """``--input-format``, ``--extract/--no-extract``, ``--skip-notes`` and ``--chapters``."""
    for option in reversed([
        click.option(
            "--input-format", "input_format", default=None, metavar="FORMAT",
            help="Read INPUT as text, markdown, html, epub or pdf. [default: from the "
                 "suffix; text for stdin]",
        ),
        click.option(
            "--extract/--no-extract", default=None,
            help="HTML: read only the page's main article, not menus, banners and footers. "
                 "[default: on for HTML files, off for EPUB chapters]",
        ),
        click.option("--skip-notes", is_flag=True,
                     help="Leave footnotes and endnotes out (their marks are never read)."),
        click.option(
            "--chapters", "chapter_spec", default=None, metavar="LIST",
            help="Only these chapters, by the numbers `narrator chapters` lists: 3-7,10.",
        ),
    ]):  # fmt: skip
        command = option(command)
    return command


def _load_document(
    input: Any,
    input_format: str | None,
    max_input: int,
    extract: bool | None = None,
    skip_notes: bool = False,
    chapter_spec: str | None = None,
) -> Any:
    """INPUT (a path, ``-``, or an input opened already) read as a
    :class:`narrator.books.Document`, cut to ``--chapters``."""
    from .books import load

    return load(input, input_format, max_bytes=max_input, extract=extract,
                skip_notes=skip_notes, chapters=chapter_spec)  # fmt: skip


def _read_cover(path: Path | None) -> bytes | None:
    """The image ``--cover`` names, checked to be a JPEG or PNG."""
    from .books import read_cover

    return None if path is None else read_cover(path)


# --- end of the book options --------------------------------------------------------------


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
    type=click.Choice([f.value for f in AudioFormat] + ["pcm"]),
    default=None,
    help="Output format; pcm is raw 16-bit mono for a stream. [default: from the output "
         "suffix, else mp3]",
)  # fmt: skip
@click.option(
    "--stream/--no-stream", "streaming", default=None,
    help="Write each sentence's audio to standard output as soon as it is spoken (mp3, "
         "opus, flac, wav, pcm). [default: on when -o - is a pipe]",
)  # fmt: skip
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
@_book_options
@click.option(
    "--cover",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Cover image (JPEG or PNG) to embed, instead of the book's own.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or messages, only errors.")
@click.option("--verbose", count=True, help="More messages on stderr (twice for debug).")
def read(
    input: str, output: str | None, voice: str, speed: float | None, speaker: str | None,
    speaker_wav: tuple[Path, ...], seed: int | None, device: str, accept_coqui_license: bool,
    sentence_pause: float, paragraph_pause: float, scene_pause: float, heading_pause: float,
    loudness: float, true_peak: float, fmt: str | None, bitrate: str, title: str | None,
    lexicon: Path | None, max_input: int, author: str | None, subtitles: Path | None,
    split_chapters: bool, jobs: int, no_cache: bool, as_json: bool, input_format: str | None,
    extract: bool | None, skip_notes: bool, chapter_spec: str | None, cover: Path | None,
    quiet: bool, verbose: int,
    streaming: bool | None,
) -> None:  # fmt: skip
    """Narrate INPUT (a text, Markdown, HTML, EPUB or PDF file, or - for stdin) into one
    audio file."""
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
    audio_format = _output_format(output, None if fmt == "pcm" else fmt)
    streaming = _streams(streaming, output, fmt or audio_format.value, subtitles, split_chapters,
                         as_json, jobs)  # fmt: skip
    tags = {key: value for key, value in (("title", title), ("author", author)) if value}
    from .books import input_format as format_of
    from .books import title_from_name

    format_of(input, input_format)  # an unknown --input-format fails before anything loads
    rendering = Rendering(
        sentence_pause=sentence_pause, paragraph_pause=paragraph_pause,
        heading_pause=heading_pause, scene_pause=scene_pause, loudness=loudness,
        true_peak=true_peak, format=audio_format, bitrate=kbps, tags=tags,
        cover=_read_cover(cover),
    )  # fmt: skip
    _quick_gil_handover()
    from .language import AUTO_VOICE, auto_voice
    from .text import open_input

    def document_of(source: Any) -> Any:
        return _load_document(source, input_format, max_input, extract, skip_notes,
                              chapter_spec)  # fmt: skip

    document = None
    if voice == AUTO_VOICE:  # the text decides the voice: read it first
        document = document_of(input)
    chosen = (auto_voice(document.text, document.language) if document is not None
              else load_voice(voice))  # fmt: skip
    chosen = chosen.with_options(speaker=speaker, speed=speed, speaker_wav=speaker_wav, seed=seed,
                                 accept_license=accept_coqui_license)  # fmt: skip
    if as_json and output == STDOUT:
        raise click.UsageError("--json prints the summary on stdout, so it needs -o FILE")
    if output == STDOUT and sys.stdout is None:
        raise OutputError("standard output is closed; give -o FILE")
    stream = sys.stdout.buffer if output == STDOUT and sys.stdout is not None else None
    if stream is not None and stream.isatty():
        raise click.UsageError("refusing to write audio to a terminal; redirect standard output")
    # A missing file, a folder or a closed stdin fails now; the input is read once, later.
    source = open_input(input) if document is None else None
    # The model loads (mostly outside the GIL) while the rest of narrator is imported
    # and the text is read and split.
    engine = load_engine_in_background(chosen, device=device)
    if streaming:
        from . import streaming as _  # noqa: F401 - imported while the model loads
    else:
        from .pipeline import narrate
    if source is not None:
        with source:
            document = document_of(source)
    assert document is not None
    if streaming and stream is not None:
        return _stream_out(document.text, stream, fmt or audio_format.value, kbps, chosen,
                           rendering, device, engine, not no_cache, lexicon, quiet,
                           verbose)  # fmt: skip
    show = not quiet and sys.stderr is not None and sys.stderr.isatty()
    started = time.perf_counter()
    with _Progress(show) as progress:
        result = narrate(
            document, stream if stream is not None else output, voice=chosen, rendering=rendering,
            device=device, engine=engine, progress=progress.update,
            fallback_title=None if input == STDIN else title_from_name(input),
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


# -- narrator batch (issue 15): its options are read's, but for these few of its own.
_BATCH_SHARES_READS = (
    "voice", "speed", "speaker", "seed", "device", "accept_coqui_license", "sentence_pause",
    "paragraph_pause", "scene_pause", "heading_pause", "loudness", "true_peak", "fmt",
    "bitrate", "lexicon", "max_input", "author", "split_chapters", "jobs", "no_cache", "quiet",
    "verbose", "input_format", "extract", "skip_notes",
)  # fmt: skip


@cli.command()
@click.argument("inputs", metavar="[INPUT]...", nargs=-1, type=str)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="A .csv (with a header) or .jsonl file of books, one a row: "
    "input, and optionally output, voice, title, author and read's options.",
)
@click.option(
    "-o",
    "--outdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="Folder of the outputs (made if missing).",
)
@click.option(
    "--name",
    "pattern",
    default="{stem}.{format}",
    show_default=True,
    help="Output name in OUTDIR: {stem} and {name} of the input, {format}.",
)
@click.option("--force", is_flag=True, help="Remake books whose output exists.")
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Synthesize on a Ray cluster: auto, ray://HOST:PORT, "
    "or no address for a local one (write --ray=ADDRESS before the inputs).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON line per book on stdout, then one with the totals.",
)
def batch(
    inputs: tuple[str, ...], manifest: Path | None, outdir: Path, pattern: str, force: bool,
    ray_address: str | None, as_json: bool, voice: str, speed: float | None,
    speaker: str | None, seed: int | None, device: str, accept_coqui_license: bool,
    sentence_pause: float, paragraph_pause: float, scene_pause: float, heading_pause: float,
    loudness: float, true_peak: float, fmt: str | None, bitrate: str, lexicon: Path | None,
    max_input: int, author: str | None, split_chapters: bool, jobs: int, no_cache: bool,
    quiet: bool, verbose: int, input_format: str | None, extract: bool | None,
    skip_notes: bool,
) -> None:  # fmt: skip
    """Narrate many books into OUTDIR: files and folders, or a --manifest.

    Sentences of all the books are synthesized together (with -j workers, or Ray actors),
    and each book is mastered as soon as its clips are ready, into the file `narrator read`
    would make. A book whose output exists is skipped (--force remakes it); one that fails
    is reported and the others go on: the exit code is then 1.
    """
    from .batch import Job, find_inputs, narrate_many, read_manifest

    _setup_logging(verbose, quiet)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if ray_address and Path(ray_address).exists():  # `--ray books/`: an input, no address
        inputs, ray_address = (ray_address, *inputs), ""
    try:
        kbps = parse_bitrate(bitrate)
    except NarratorError as exc:
        raise click.BadParameter(str(exc), param_hint="--bitrate") from None
    if not inputs and manifest is None:
        raise click.UsageError("give input files or folders, or --manifest FILE")
    listed = (read_manifest(manifest) if manifest is not None else []) + [
        Job(path) for path in find_inputs(inputs)]  # fmt: skip
    for job in listed:
        job.lexicon = job.lexicon or lexicon
        job.split_chapters = job.split_chapters or split_chapters
        job.input_format = job.input_format or input_format
        job.extract = extract if job.extract is None else job.extract
        job.skip_notes = job.skip_notes or skip_notes
    tags = {"author": author} if author else {}
    rendering = Rendering(
        sentence_pause=sentence_pause, paragraph_pause=paragraph_pause,
        heading_pause=heading_pause, scene_pause=scene_pause, loudness=loudness,
        true_peak=true_peak, format=AudioFormat.parse(fmt or "mp3"), bitrate=kbps, tags=tags,
    )  # fmt: skip
    outdir.mkdir(parents=True, exist_ok=True)
    pool = None
    if ray_address is not None:
        from .cluster import RayPool, connect

        connect(ray_address or None)
        pool = RayPool(jobs if jobs > 1 else None, gpus=device == "cuda")
    progress = _BatchProgress(quiet)
    try:
        report = narrate_many(
            listed, outdir=outdir, pattern=pattern, voice=voice, rendering=rendering,
            device=device, cache=not no_cache, workers=jobs, pool=pool, force=force,
            progress=progress.update, max_input=max_input, accept_license=accept_coqui_license,
        )  # fmt: skip
    finally:
        progress.close()
        if pool is not None:
            pool.close()
    if as_json:
        for book in report.books:
            _say(json.dumps(book.to_dict(), allow_nan=False), err=False)
        _say(json.dumps(report.totals(), allow_nan=False), err=False)
    if not quiet:
        totals = report.totals()
        _say(f"narrator: batch: {totals['made']} made, {totals['skipped']} skipped, "
             f"{totals['failed']} failed; {totals['audio_seconds'] / 3600:.2f} h of audio "
             f"in {report.elapsed:.1f} s")  # fmt: skip
    if report.exit_code:
        sys.exit(report.exit_code)


batch.params += [p for p in read.params if p.name in _BATCH_SHARES_READS]


class _BatchProgress:
    """A line per book on stderr (a failure even with --quiet), and on a terminal a
    status line: books, sentences, hours of audio, throughput, ETA."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = not quiet and sys.stderr is not None and sys.stderr.isatty()
        self.shown = 0.0

    def update(self, event: Any) -> None:
        book = event.book
        status = (f"[{event.books_done}/{event.books} books, {event.sentences_done}/"
                  f"{event.sentences} sentences, {event.audio_seconds / 3600:.2f} h of audio, "
                  f"{event.throughput:.1f}x real time"
                  + (f", ETA {_clock(event.eta)}]" if event.eta is not None else "]"))  # fmt: skip
        if book is not None:
            if book.status == "failed":
                line = f"narrator: failed {book.input}: {book.reason}"
            elif book.status == "skipped":
                line = f"narrator: skipped {book.input}: {book.output} exists (--force remakes it)"
            else:
                length = _clock(book.summary.get("duration") or 0)
                line = f"narrator: wrote {book.output} ({length})"
            if book.status == "failed" or not self.quiet:
                self._clear()
                _say(f"{line} {status}")
        elif self.tty and time.monotonic() - self.shown > 0.5:
            self.shown = time.monotonic()
            with contextlib.suppress(OSError):
                click.echo(f"\r{status}\x1b[K", err=True, nl=False)

    def _clear(self) -> None:
        if self.tty:
            with contextlib.suppress(OSError):
                click.echo("\r\x1b[K", err=True, nl=False)

    def close(self) -> None:
        self._clear()


STREAMABLE = ("mp3", "opus", "flac", "wav", "pcm")
"""The formats ``narrator read`` can stream to standard output."""


def _streams(
    asked: bool | None, output: str, fmt: str, subtitles: Path | None, split_chapters: bool,
    as_json: bool, jobs: int,
) -> bool:  # fmt: skip
    """Whether to stream: as asked (``--stream`` checks that it can), else when standard
    output is a pipe and nothing asked for needs the whole narration first."""
    wholes = [name for name, given in (("--subtitles", subtitles is not None),
              ("--split-chapters", split_chapters), ("--json", as_json),
              ("--jobs", jobs > 1)) if given]  # fmt: skip
    if asked:
        if output != STDOUT:
            raise click.UsageError("--stream writes to standard output: give -o -")
        if fmt not in STREAMABLE:
            raise click.UsageError(f"--stream cannot stream {fmt}; choose one of: "
                                   f"{', '.join(STREAMABLE)}")  # fmt: skip
        if wholes:
            raise click.UsageError(f"--stream cannot be combined with {wholes[0]}")
        return True
    stdout_pipe = False
    if asked is None and output == STDOUT and sys.stdout is not None:
        with contextlib.suppress(OSError, ValueError):
            mode = os.fstat(sys.stdout.fileno()).st_mode
            stdout_pipe = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    if fmt == "pcm" and not (stdout_pipe and not wholes):
        raise click.UsageError("--format pcm is raw audio for a stream: use it with --stream "
                               "-o - (or -o - into a pipe)")  # fmt: skip
    return stdout_pipe and fmt in STREAMABLE and not wholes


def _stream_out(
    text: str, out: Any, fmt: str, kbps: int, voice: Any, rendering: Rendering, device: str,
    engine: Any, cache: bool, lexicon: Path | None, quiet: bool, verbose: int,
) -> None:  # fmt: skip
    """Narrate *text* onto *out* as it is spoken (see :mod:`narrator.streaming`)."""
    from .streaming import encode, stream, stream_rate, with_stream_format

    rendering = with_stream_format(rendering, fmt)
    started = time.perf_counter()
    audio = stream(text, voice=voice, rendering=rendering, device=device, engine=engine,
                   cache=cache, lexicon=lexicon)  # fmt: skip
    rate = stream_rate(fmt, audio.sample_rate)
    if verbose:
        layout = "s16le, mono" if fmt == "pcm" else "mono"
        _say(f"narrator: streaming {fmt}: {layout}, {rate} Hz")
    with contextlib.closing(encode(audio, fmt, kbps)) as chunks:
        for chunk in chunks:
            out.write(chunk)
            out.flush()
    if not quiet:
        seconds = audio.samples / audio.sample_rate
        loudness = f", {audio.loudness:.1f} LUFS" if audio.loudness is not None else ""
        _say(f"narrator: streamed {_clock(seconds)} of audio{loudness} to standard output "
             f"in {time.perf_counter() - started:.1f} s")  # fmt: skip


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
@_book_options
@click.option(
    "--places", is_flag=True,
    help="Start each line with the segment's place in the source and a tab "
         "(ch03.xhtml, paragraph 14; page 12; line 7).",
)  # fmt: skip
def split(
    input: str, voice: str, sentence_pause: float, paragraph_pause: float,
    heading_pause: float, scene_pause: float, lexicon: Path | None, max_input: int,
    as_json: bool, verbose: int, input_format: str | None, extract: bool | None,
    skip_notes: bool, chapter_spec: str | None, places: bool,
) -> None:  # fmt: skip
    """Show how INPUT is split into spoken segments, without synthesizing."""
    from .books import input_format as format_of
    from .engines import engine_class
    from .errors import EngineError
    from .language import AUTO_VOICE, auto_voice, language_mismatch, text_language
    from .text import split_text
    from .voices import load_voice

    _setup_logging(verbose, False)
    format_of(input, input_format)

    def document_of() -> Any:
        return _load_document(input, input_format, max_input, extract, skip_notes, chapter_spec)

    document = document_of() if voice == AUTO_VOICE else None
    chosen = (auto_voice(document.text, document.language) if document is not None
              else load_voice(voice))  # fmt: skip
    rendering = Rendering(sentence_pause=sentence_pause, paragraph_pause=paragraph_pause,
                          heading_pause=heading_pause, scene_pause=scene_pause)  # fmt: skip
    try:
        limit = engine_class(chosen.engine).text_limit(chosen)
    except EngineError as exc:  # an engine that cannot be imported here, say; a broken
        # preset (VoiceError: an unknown engine, a bad option) is an error (exit 3)
        logger.warning("%s; chunks are shown as if the engine took any length", exc)
        limit = None
    if document is None:
        document = document_of()
    mismatch = language_mismatch(document.text, chosen, language=document.language)
    if mismatch is not None:
        logger.warning("%s", mismatch)
    segments = split_text(document.text, language=text_language(chosen.language,
                          document.language), rendering=rendering,
                          lexicon=[lexicon, chosen.lexicon_path()], limit=limit,
                          where=document.place)  # fmt: skip

    def place(segment: Any) -> str:
        return document.place(segment.line) or f"line {segment.line}"

    if as_json:
        listed = [{**s.to_dict(), "place": place(s)} for s in segments]
        click.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    for segment in segments:
        click.echo(f"{place(segment)}\t{segment.text}" if places else segment.text)


# --- Books (issue 13): the chapters command -------------------------------------------------


@cli.command()
@click.argument("input", metavar="INPUT", type=str)
@_voice_option("Voice preset, whose pace estimates the minutes.")
@click.option("--speed", type=_FloatRange(0.25, 4.0), default=None,
              help="Speaking rate, as for `narrator read`.")  # fmt: skip
@click.option(
    "--input-format",
    "input_format",
    default=None,
    metavar="FORMAT",
    help="Read INPUT as text, markdown, html, epub or pdf. [default: from the suffix]",
)
@click.option("--extract/--no-extract", default=None, help="HTML: only the main article.")
@click.option("--skip-notes", is_flag=True, help="Leave footnotes and endnotes out.")
@_max_input_option
@click.option("--json", "as_json", is_flag=True,
              help="A JSON array: number, title, words, minutes, place.")  # fmt: skip
def chapters(
    input: str, voice: str, speed: float | None, input_format: str | None,
    extract: bool | None, skip_notes: bool, max_input: int, as_json: bool,
) -> None:  # fmt: skip
    """List INPUT's chapters: number (for --chapters), title, words, estimated minutes.

    The minutes are the words over the voice's engine's measured pace (words per minute
    of narration, pauses included), divided by the voice's speed."""
    from .books.chapters import listing, words_per_minute
    from .language import AUTO_VOICE
    from .voices import load_voice

    document = _load_document(input, input_format, max_input, extract, skip_notes)
    chosen = None if voice == AUTO_VOICE else load_voice(voice).with_options(speed=speed)
    pace = words_per_minute(chosen.engine if chosen else "", chosen.speed if chosen else 1.0)
    listed = listing(document)
    if as_json:
        click.echo(json.dumps([c.to_dict(pace) for c in listed], indent=2, ensure_ascii=False))
        return
    width = max(len(c.title) for c in listed) if listed else 5
    for chapter in listed:
        _say(f"{chapter.number:>4}  {chapter.title:<{width}}  {chapter.words:>7} words  "
             f"{chapter.minutes(pace):>6.1f} min", err=False)  # fmt: skip


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
    for name in names:
        voice = load_voice(name).with_options(accept_license=accept_coqui_license)
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
