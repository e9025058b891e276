"""MPEG-1 layer III frames: their sizes, splitting a stream into them, and the LAME
"Info" frame that tells players a stream's length, encoder delay and padding (for
sample-exact, gapless decoding of MP3 joined from pieces)."""

from __future__ import annotations

import struct

from ..errors import OutputError

MP3_FRAME = 1152
"""Samples per MPEG-1 layer III frame."""

MP3_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MP3_RATES = {44_100: 0, 48_000: 1, 32_000: 2}
"""The sample rates of MPEG-1 layer III, and their index in a frame header."""

ENCODER_DELAY = 576
"""Samples LAME puts before the first input sample."""

DECODER_DELAY = 529
"""Samples an MP3 decoder's filter bank adds in front of that."""

_SIDE_INFO_MONO = 17
_TAG_CRC_AT = 4 + _SIDE_INFO_MONO + 120 + 34
"""Offset of the LAME tag's own CRC in the Info frame of a mono MPEG-1 stream."""


def mp3_frame_size(header: bytes) -> int:
    """Bytes in the MPEG-1 layer III frame starting with *header* (4 bytes)."""
    if header[0] != 0xFF or header[1] & 0xFE != 0xFA:
        raise OutputError("the MP3 encoder wrote something that is not an MPEG-1 layer III frame")
    bitrate = MP3_BITRATES[header[2] >> 4] * 1000
    rate = (44_100, 48_000, 32_000)[(header[2] >> 2) & 3]
    return 144 * bitrate // rate + ((header[2] >> 1) & 1)


def mp3_frames(data: bytes) -> list[bytes]:
    """The frames of a raw MPEG-1 layer III stream."""
    frames, at = [], 0
    while at < len(data):
        size = mp3_frame_size(data[at : at + 4])
        frames.append(data[at : at + size])
        at += size
    return frames


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16 (ANSI, reflected), as LAME computes it for its tag."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _info_bitrate(rate: int, bitrate: int) -> int:
    """The bitrate index of the Info frame: the stream's, or the next one big enough."""
    return next(i for i, kbps in enumerate(MP3_BITRATES)
                if kbps >= bitrate and 144_000 * kbps // rate > _TAG_CRC_AT + 2)  # fmt: skip


def mp3_info_size(rate: int, bitrate: int) -> int:
    """Bytes in the Info frame of a stream at *rate* and *bitrate*."""
    return 144_000 * MP3_BITRATES[_info_bitrate(rate, bitrate)] // rate


def mp3_info_frame(
    rate: int, bitrate: int, frames: int, audio_bytes: int, samples: int
) -> bytes:  # fmt: skip
    """A LAME "Info" frame (the tag of a constant-bitrate MP3) for a mono stream of
    *frames* frames (*audio_bytes* bytes) that decodes to *samples* samples."""
    index = _info_bitrate(rate, bitrate)
    size = mp3_info_size(rate, bitrate)
    frame = bytearray(size)
    frame[:4] = bytes([0xFF, 0xFB, index << 4 | MP3_RATES[rate] << 2, 0xC0])
    tag = 4 + _SIDE_INFO_MONO
    total = size + audio_bytes
    toc = bytes(min(255, 256 * (size + audio_bytes * i // 100) // total) for i in range(100))
    struct.pack_into(">4sIII100sI", frame, tag, b"Info", 0x0F, frames, total, toc, 0)
    lame = tag + 120
    padding = frames * MP3_FRAME - ENCODER_DELAY - samples
    if not 0 <= padding < 1 << 12:
        raise OutputError(f"the MP3 pieces do not add up ({padding} samples of padding)")
    frame[lame : lame + 9] = b"LAME3.100"
    struct.pack_into(">I", frame, lame + 21, (ENCODER_DELAY << 12 | padding) << 8)
    struct.pack_into(">I", frame, lame + 28, total)
    struct.pack_into(">H", frame, _TAG_CRC_AT, crc16(bytes(frame[:_TAG_CRC_AT])))
    return bytes(frame)
