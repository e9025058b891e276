"""Benchmark: reading a large PDF (narrator.books.pdf) — pages per second and peak memory.

    python benchmarks/bench_pdf.py [--pages 500] [--image-side 480] [--keep DIR]

Draws two PDFs with reportlab: a short one (a tenth of the pages) and a long one, the same
page after page: two columns of generated prose (about 560 words a page), a running
header, a page number, an outline entry every 20 pages, and on each page a photo-like
image of its own (random pixels, JPEG), so that the file is large as scanned-and-OCRed
or illustrated books are (about 100 MB for 500 pages).  Each is then read in a fresh
process with :func:`narrator.books.load`, which reports the wall time, the pages per
second (wall and CPU) and its peak resident memory (``VmHWM``, and what the imports
alone took): pages are read one by one, so the
long file's peak should stay near the short one's, the text aside.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "the river ran past the mill and under the old stone bridge where children watched "
    "boats come down from the hills carrying timber grain and wool to the market town "
    "whose narrow streets smelled of bread and smoke in the early morning light"
).split()

READER = """
import json, re, sys, time
from narrator.books import load
import narrator.books.pdf, pdfminer.converter  # (imports are not the reading)

def peak():  # this process's own high-water mark (ru_maxrss would carry the parent's over exec)
    status = open("/proc/self/status").read()
    return int(re.search(r"VmHWM:\\s+(\\d+)", status).group(1)) / 1024

before = peak()
started, cpu = time.perf_counter(), time.process_time()
document = load(sys.argv[1])
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({
    "seconds": elapsed,
    "cpu": cpu,
    "imported_mb": before,
    "peak_rss_mb": peak(),
    "chars": len(document.text),
    "chapters": len(document.chapters),
}))
"""


def lines_of_prose(rng: random.Random, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(7)]
        lines.append(" ".join(words).capitalize() + rng.choice([",", ".", "", ""]))
    return lines


def draw(path: Path, pages: int, image_side: int) -> None:
    import numpy as np
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    width, height = A4
    rng = random.Random(7)
    noise = np.random.default_rng(7)
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        pdf.setFont("Helvetica", 9)
        pdf.drawString(60, height - 40, "A LONG GENERATED BOOK")
        pdf.drawCentredString(width / 2, 30, str(number))
        if number % 20 == 1:
            pdf.bookmarkPage(f"p{number}")
            pdf.addOutlineEntry(f"Chapter {number // 20 + 1}", f"p{number}", level=0)
        pixels = noise.integers(0, 256, (image_side, image_side, 3), dtype=np.uint8)
        jpeg = io.BytesIO()
        Image.fromarray(pixels).save(jpeg, "JPEG", quality=85)
        pdf.drawImage(ImageReader(io.BytesIO(jpeg.getvalue())), 200, 90, 195, 195)
        pdf.setFont("Helvetica", 9)
        for x in (50, 310):  # two columns of 40 lines above the picture
            for row, line in enumerate(lines_of_prose(rng, 40)):
                pdf.drawString(x, height - 80 - 11 * row, line[:48])
        pdf.showPage()
    pdf.save()


def read(path: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", READER, str(path)], capture_output=True, text=True, env=env,
        check=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--image-side", type=int, default=480)
    parser.add_argument("--keep", type=Path, help="draw the PDFs into DIR and keep them")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("| pages | file | read in (CPU) | pages/s (CPU) | peak RSS (after imports) | text |")
    print("|---:|---:|---:|---:|---:|---:|")
    for pages in (max(1, args.pages // 10), args.pages):
        path = folder / f"book-{pages}.pdf"
        if not path.exists():
            started = time.perf_counter()
            draw(path, pages, args.image_side)
            print(f"(drew {path.name} in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        stats = read(path)
        print(
            f"| {pages} | {path.stat().st_size / 2**20:.1f} MB "
            f"| {stats['seconds']:.1f} s ({stats['cpu']:.1f} s) "
            f"| {pages / stats['seconds']:.1f} ({pages / stats['cpu']:.1f}) "
            f"| {stats['peak_rss_mb']:.0f} MB ({stats['imported_mb']:.0f} MB) "
            f"| {stats['chars'] / 2**20:.2f} M chars, {stats['chapters']:.0f} chapters |"
        )


if __name__ == "__main__":
    main()
