"""The BER/DER element header, shared by the certificate parser and the classifiers."""

from __future__ import annotations


def header(data: bytes, pos: int, end: int) -> tuple[bool, int, int, int] | None:
    """(constructed, tag, value start, declared value length) of the element at ``pos``.

    None when the header itself is cut or malformed; the caller decides what a value that runs
    past ``end`` means (a certificate refuses it, a classifier reads what is there).
    """
    if pos + 2 > end:
        return None
    first = data[pos]
    tag = first & 0x1F
    pos += 1
    if tag == 0x1F:  # high tag number form
        tag = 0
        while pos < end and data[pos] & 0x80:
            tag = (tag << 7) | (data[pos] & 0x7F)
            pos += 1
        if pos >= end:
            return None
        tag = (tag << 7) | data[pos]
        pos += 1
    if pos >= end:
        return None
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            return None
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    return bool(first & 0x20), tag, pos, length
