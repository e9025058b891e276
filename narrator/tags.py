"""Metadata in the finished file: tags, and chapters where the format has them.

Tag names are narrator's own (``title``, ``artist``, ``album``, ``author``,
``narrator``, ``genre``, ``date``, ``comment``, and the voice's ``voice_license`` and
``voice_credit``) and are mapped to each format:
ID3 frames for MP3 and WAV, Vorbis comments for FLAC, Ogg Vorbis and Opus,
iTunes atoms for M4A/M4B; a name without a frame of its own is written as
``TXXX:NAME`` (ID3), ``NAME`` (Vorbis) or ``----:com.apple.iTunes:NAME`` (MP4).
Chapters go into ID3 ``CHAP``/``CTOC`` frames, Vorbis ``CHAPTERnnn`` comments,
or (for MP4, written by the encoder) the ``chpl`` atom.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .rendering import AudioFormat, cover_type
from .timeline import Chapter

_ID3 = {
    "title": "TIT2", "artist": "TPE1", "album": "TALB", "genre": "TCON", "date": "TDRC",
    "author": "TCOM", "composer": "TCOM", "narrator": "TXXX:NARRATOR", "comment": "COMM",
    "tracknumber": "TRCK",
}  # fmt: skip
_MP4 = {
    "title": "©nam", "artist": "©ART", "album": "©alb", "genre": "©gen", "date": "©day",
    "author": "aART", "composer": "©wrt", "narrator": "©wrt", "comment": "©cmt",
}  # fmt: skip


def write_tags(
    path: Path,
    fmt: AudioFormat,
    tags: dict[str, str],
    chapters: Sequence[Chapter] = (),
    cover: bytes | None = None,
) -> None:
    """Write *tags*, *chapters* and the *cover* image (JPEG or PNG) into the file at *path*."""
    tags = {k: v for k, v in tags.items() if v}
    if fmt in (AudioFormat.MP3, AudioFormat.WAV):
        _write_id3(path, fmt, tags, chapters, cover)
    elif fmt in (AudioFormat.M4A, AudioFormat.M4B):
        _write_mp4(path, tags, cover)
    else:
        _write_vorbis(path, fmt, tags, chapters, cover)


def _id3_frames(
    tags: dict[str, str], chapters: Sequence[Chapter], cover: bytes | None = None
) -> list[object]:
    from mutagen import id3

    frames: list[object] = []
    if cover is not None:
        frames.append(id3.APIC(encoding=3, mime=cover_type(cover), type=id3.PictureType.COVER_FRONT,
                               desc="Cover", data=cover))  # fmt: skip
    for key, value in tags.items():
        frame_id = _ID3.get(key, f"TXXX:{key.upper()}")
        if frame_id.startswith("TXXX:"):
            frames.append(id3.TXXX(encoding=3, desc=frame_id[5:], text=value))
        elif frame_id == "COMM":
            frames.append(id3.COMM(encoding=3, lang="eng", desc="", text=value))
        else:
            frames.append(getattr(id3, frame_id)(encoding=3, text=value))
    if chapters:
        ids = [f"ch{n}" for n in range(len(chapters))]
        frames.append(id3.CTOC(
            element_id="toc", flags=id3.CTOCFlags.TOP_LEVEL | id3.CTOCFlags.ORDERED,
            child_element_ids=ids, sub_frames=[id3.TIT2(encoding=3, text="Chapters")],
        ))  # fmt: skip
        for element_id, chapter in zip(ids, chapters, strict=True):
            frames.append(id3.CHAP(
                element_id=element_id, start_time=round(chapter.start * 1000),
                end_time=round(chapter.end * 1000),
                sub_frames=[id3.TIT2(encoding=3, text=chapter.title)],
            ))  # fmt: skip
    return frames


def _write_id3(
    path: Path,
    fmt: AudioFormat,
    tags: dict[str, str],
    chapters: Sequence[Chapter],
    cover: bytes | None = None,
) -> None:
    from mutagen import id3

    frames = _id3_frames(tags, chapters, cover)
    if not frames:
        return
    if fmt is AudioFormat.WAV:
        from mutagen.wave import WAVE

        wave = WAVE(path)
        if wave.tags is None:
            wave.add_tags()
        assert wave.tags is not None
        for frame in frames:
            wave.tags.add(frame)
        wave.save()
        return
    tag = id3.ID3()
    for frame in frames:
        tag.add(frame)
    tag.save(path, v2_version=4)


def _write_mp4(path: Path, tags: dict[str, str], cover: bytes | None = None) -> None:
    from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

    mp4 = MP4(path)
    if mp4.tags is None:
        mp4.add_tags()
    assert mp4.tags is not None
    for key, value in tags.items():
        atom = _MP4.get(key)
        if key == "tracknumber":
            number, _, total = value.partition("/")
            mp4.tags["trkn"] = [(int(number), int(total or 0))]
        elif atom is not None:
            mp4.tags[atom] = [value]
        mp4.tags[f"----:com.apple.iTunes:{key.upper()}"] = [MP4FreeForm(value.encode("utf-8"))]
    if cover is not None:
        kind = MP4Cover.FORMAT_PNG if cover_type(cover) == "image/png" else MP4Cover.FORMAT_JPEG
        mp4.tags["covr"] = [MP4Cover(cover, imageformat=kind)]
    mp4.save()


def _write_vorbis(
    path: Path,
    fmt: AudioFormat,
    tags: dict[str, str],
    chapters: Sequence[Chapter],
    cover: bytes | None = None,
) -> None:
    import mutagen

    audio = mutagen.File(path)
    if audio is None:
        return
    if audio.tags is None:
        audio.add_tags()
    for key, value in tags.items():
        audio[key.upper()] = value
    for number, chapter in enumerate(chapters, start=1):
        audio[f"CHAPTER{number:03d}"] = _clock(chapter.start)
        audio[f"CHAPTER{number:03d}NAME"] = chapter.title
    if cover is not None:
        _add_picture(audio, fmt, cover)
    audio.save()


def _picture(cover: bytes) -> object:
    """A FLAC picture block (front cover) of *cover*, with its size when Pillow can tell it."""
    from mutagen.flac import Picture

    picture = Picture()
    picture.type = 3  # front cover
    picture.mime = cover_type(cover) or "image/jpeg"
    picture.desc = "Cover"
    picture.data = cover
    try:
        import io

        from PIL import Image

        with Image.open(io.BytesIO(cover)) as image:
            picture.width, picture.height = image.size
            picture.depth = 24
    except Exception:  # Pillow is optional, and the sizes are only hints for players
        pass
    return picture


def _add_picture(audio: object, fmt: AudioFormat, cover: bytes) -> None:
    """Embed *cover*: a picture block in FLAC, a METADATA_BLOCK_PICTURE comment in Ogg."""
    import base64

    picture = _picture(cover)
    if fmt is AudioFormat.FLAC:
        audio.clear_pictures()  # type: ignore[attr-defined]
        audio.add_picture(picture)  # type: ignore[attr-defined]
    else:
        encoded = base64.b64encode(picture.write()).decode("ascii")  # type: ignore[attr-defined]
        audio["METADATA_BLOCK_PICTURE"] = [encoded]  # type: ignore[index]


def _clock(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def read_chapters(path: Path) -> list[tuple[str, float, float]]:
    """(title, start, end) of the chapters in an MP3, M4A/M4B or Vorbis-comment file."""
    import mutagen

    audio = mutagen.File(path)
    if audio is None or audio.tags is None:
        return []
    if hasattr(audio, "chapters") and audio.chapters is not None:  # MP4
        found = [(c.title, c.start) for c in audio.chapters]
        ends = [start for _, start in found[1:]] + [audio.info.length]
        return [(title, start, end) for (title, start), end in zip(found, ends, strict=True)]
    if hasattr(audio.tags, "getall"):  # ID3
        chaps = sorted(audio.tags.getall("CHAP"), key=lambda c: c.start_time)
        return [
            (str(c.sub_frames["TIT2"]) if "TIT2" in c.sub_frames else c.element_id,
             c.start_time / 1000, c.end_time / 1000)
            for c in chaps
        ]  # fmt: skip
    return []
