"""Repair UTF-8 text that was once decoded with a single-byte codec (Mac Roman, Windows-1252).

A checklist saved on a Mac and re-read as Mac Roman turns ``✅`` (bytes E2 9C 85) into ``‚úÖ``
and ``🔴`` into ``üî¥``. Each garbled character stands for exactly one byte, so re-encoding a
run of them with the wrong codec gives back the original bytes, which then decode as UTF-8.

We only undo a sequence when it decodes cleanly *and* to a character that such documents
really contain (Latin letters, punctuation, arrows, symbols, dingbats, emoji). Correct text is
left alone: a real ``✅`` cannot be encoded as Mac Roman, and ``é`` in "Café" or ``ï`` in
"naïve" encode to lone continuation bytes that are not valid UTF-8 on their own.

Two characters that make a two-byte sequence prove nothing on their own: correct text says
"≈±5ms", "≈µs" or "√©", which re-encode as Mac Roman to the UTF-8 of "ű", "ŵ" and "é". Three
or four garbled characters that decode to one arrow, dingbat or emoji ("‚úÖ", "üî¥") do not
happen in correct text. So two-byte sequences are repaired only in a text that also has such a
three- or four-byte repair with the same codec: one that really was misread as a whole.
"""

from __future__ import annotations

import re

# Text that needs no repair: every garbled sequence contains at least two non-ASCII characters.
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]{2,}")


def _byte_table(codec: str) -> dict[str, int]:
    table = {}
    for byte in range(0x80, 0x100):
        try:
            table[bytes([byte]).decode(codec)] = byte
        except UnicodeDecodeError:  # Windows-1252 leaves five bytes undefined
            continue
    return table


_CODECS = (_byte_table("mac_roman"), _byte_table("cp1252"))


def _sequence_length(lead: int) -> int:
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def _plausible(char: str, length: int) -> bool:
    """Whether a repaired character is one a readiness document plausibly contains."""
    point = ord(char)
    if length == 2:
        return 0xA0 <= point <= 0x17F  # Latin-1 supplement and Latin Extended-A
    if length == 3:
        # General punctuation, arrows, math, technical (⏱), box drawing, symbols (⚠),
        # dingbats (✅ ❌), variation selectors (the invisible U+FE0F after many emoji).
        return 0x2000 <= point <= 0x2BFF or 0xFE00 <= point <= 0xFE0F
    return 0x1F000 <= point <= 0x1FAFF  # emoji


def _repair_run(run: str, table: dict[str, int], *, two_byte: bool) -> tuple[str, int]:
    """The run with its garbled sequences undone, and how many three- or four-byte ones there were."""
    out: list[str] = []
    strong = 0
    i, size = 0, len(run)
    while i < size:
        lead = table.get(run[i])
        length = _sequence_length(lead) if lead is not None else 0
        if length and (two_byte or length > 2) and i + length <= size:
            raw = [lead]
            for char in run[i + 1 : i + length]:
                byte = table.get(char)
                if byte is None or not 0x80 <= byte <= 0xBF:
                    break
                raw.append(byte)
            if len(raw) == length:
                try:
                    decoded = bytes(raw).decode("utf-8")
                except UnicodeDecodeError:
                    decoded = ""
                if len(decoded) == 1 and _plausible(decoded, length):
                    out.append(decoded)
                    strong += length > 2
                    i += length
                    continue
        out.append(run[i])
        i += 1
    return "".join(out), strong


def _repair(text: str, table: dict[str, int], *, two_byte: bool) -> tuple[str, int]:
    strong = 0

    def run(match: re.Match) -> str:
        nonlocal strong
        repaired, found = _repair_run(match.group(), table, two_byte=two_byte)
        strong += found
        return repaired

    return _NON_ASCII_RUN.sub(run, text), strong


def repair_mojibake(text: str) -> tuple[str, bool]:
    """Return ``(text, repaired)``: the text with Mac Roman / Windows-1252 mojibake undone.

    Mac Roman is tried first (both example documents that need it were garbled that way);
    Windows-1252 only when Mac Roman found nothing to repair. A codec repairs only a text in which
    it finds at least one three- or four-byte sequence; then its two-byte sequences are repaired too.
    """
    if not text or text.isascii():
        return text, False
    for table in _CODECS:
        _, strong = _repair(text, table, two_byte=False)
        if strong:
            return _repair(text, table, two_byte=True)[0], True
    return text, False
