"""Decode an uploaded document: UTF-8 when it is UTF-8, else the single-byte codec it was saved in.

Decoding with ``errors="replace"`` would silently turn every "é" of a Windows or old Mac file into
"�". Instead: strict UTF-8 first (a byte-order mark is dropped); failing that, Windows-1252 or Mac
Roman, whichever reads more like text, and the preview says which one was used.

Every byte decodes in Mac Roman and all but five in Windows-1252, so "which reads more like text"
is decided by the characters each one gives: lower-case letters, capitals that start a word and
common punctuation (“ ” ‘ ’ – — … • € £ °) are what documents contain; a capital inside a
word ("CafÈ"), a math sign or a control character is what the wrong codec gives. On a tie,
Windows-1252 wins: it is the more common of the two.
"""

from __future__ import annotations

import unicodedata

UTF8, CP1252, MAC_ROMAN = "utf-8", "cp1252", "mac_roman"
NAMES = {UTF8: "UTF-8", CP1252: "Windows-1252", MAC_ROMAN: "Mac Roman"}
_PUNCTUATION = frozenset("“”‘’–—…•€£°§©®™×·«»¿¡\u00a0")


def decode_document(raw: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a document's bytes; ``encoding`` is one of UTF8, CP1252, MAC_ROMAN."""
    raw = bytes(raw)
    try:
        return raw.decode("utf-8-sig"), UTF8
    except UnicodeDecodeError:
        pass
    candidates = []
    for codec in (CP1252, MAC_ROMAN):
        try:
            candidates.append((_text_score(raw.decode(codec)), codec))
        except UnicodeDecodeError:  # Windows-1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined
            continue
    best = max(candidates, key=lambda pair: pair[0])[1]  # max keeps the first (cp1252) on a tie
    return raw.decode(best), best


def _text_score(text: str) -> int:
    score = 0
    previous = " "
    for char in text:
        if ord(char) > 127:
            category = unicodedata.category(char)
            if category == "Ll" or char in _PUNCTUATION or (category == "Lu" and not previous.isalpha()):
                score += 1
            else:
                score -= 1
        previous = char
    return score


def encoding_notice(encoding: str) -> str | None:
    """What the preview says about a document that was not UTF-8, or None if it was."""
    if encoding == UTF8 or not encoding:
        return None
    name = NAMES.get(encoding, encoding)
    return f"The file is not UTF-8: it was read as {name}. Check that accented letters and symbols look right."
