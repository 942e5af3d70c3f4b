"""Reading packets back from the PCAP store, as a pcap byte stream.

A session keeps its packets' positions (``file_number << 40 | offset``, or Arkime's fileId/packetPos
in its document). The records are copied byte for byte (the 16-byte record header and the data),
behind one pcap file header, so the stream is exactly what was captured. Several sessions are
merged in time order. A file deleted by the free-space cleanup, or missing, raises
:class:`PacketsGone` naming the file.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import apsw

from appliance.pcapstore import FILE_SHIFT, OFFSET_MASK
from appliance.pcapstore.writer import RECORD_HEADER, hidden_path, pcap_file_header

_TS = struct.Struct("<II")


class PacketsGone(LookupError):
    """The packets asked for are no longer (or never were) in the store; the message says which file."""


@dataclass(frozen=True)
class StoredFile:
    num: int
    name: str
    state: str
    linktype: int
    snaplen: int
    path: str


def positions_from_document(file_ids: Sequence[int], packet_pos: Sequence[int]) -> list[int]:
    """Undo Arkime's packetPos encoding (``-file`` before each file's run of offsets)."""
    positions: list[int] = []
    current = None
    for value in packet_pos:
        if value < 0:
            current = -value
        elif current is None:
            raise ValueError("packetPos starts with an offset, not a file number")
        else:
            positions.append((current << FILE_SHIFT) | value)
    return positions


class StoreReader:
    """Reads records from the store's files; one instance per request, files opened as needed."""

    def __init__(self, conn: apsw.Connection, pcap_dir: str) -> None:
        self.conn = conn
        self.dir = pcap_dir
        self.files: dict[int, StoredFile] = {}

    def file(self, num: int) -> StoredFile:
        """The registry entry of file ``num``; PacketsGone when it is deleted or missing."""
        known = self.files.get(num)
        if known is not None:
            return known
        row = self.conn.execute(
            "SELECT name, state, linktype, snaplen, deleted_at, note FROM pcap_files WHERE num=?", (num,)).fetchone()
        if row is None:
            raise PacketsGone(f"PCAP file number {num} is not in the file registry")
        name, state, linktype, snaplen, deleted_at, note = row
        if state == "deleted":
            raise PacketsGone(f"the packets were in {name} (file {num}), which was deleted "
                              f"({note or 'no reason recorded'}); the session metadata is all that is left")
        path = os.path.join(self.dir, name)
        if state == "open" and os.path.exists(hidden_path(self.dir, name)):
            path = hidden_path(self.dir, name)
        if not os.path.exists(path):
            raise PacketsGone(f"the packets were in {name} (file {num}), which is missing from {self.dir}")
        stored = StoredFile(num, name, state, linktype, snaplen, path)
        self.files[num] = stored
        return stored

    def records(self, positions: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """(ts_us, record bytes: header + data) for each position, in the order given."""
        handle, open_num = None, -1
        try:
            for pos in positions:
                num = pos >> FILE_SHIFT
                if num != open_num:
                    if handle is not None:
                        handle.close()
                    handle = open(self.file(num).path, "rb")  # noqa: SIM115 - closed in finally
                    open_num = num
                handle.seek(pos & OFFSET_MASK)
                yield _read_record(handle, self.files[num], pos & OFFSET_MASK)
        finally:
            if handle is not None:
                handle.close()

    def header(self, positions: Sequence[int]) -> bytes:
        """A pcap file header fitting every file the positions point into (one link type only)."""
        files = [self.file(n) for n in sorted({p >> FILE_SHIFT for p in positions})]
        if not files:
            return pcap_file_header(65535, 1)
        linktypes = {f.linktype for f in files}
        if len(linktypes) > 1:
            raise ValueError(f"the packets have different link types {sorted(linktypes)}; pcap allows one")
        return pcap_file_header(max(f.snaplen for f in files), files[0].linktype)

    def session_pcap(self, positions: Sequence[int]) -> Iterator[bytes]:
        """One session's packets as a pcap stream (header, then records in position order)."""
        yield self.header(positions)
        for _, record in self.records(positions):
            yield record

    def sessions_pcap(self, sessions: Sequence[Sequence[int]]) -> Iterator[bytes]:
        """Several sessions' packets merged in time order into one pcap stream."""
        every = [p for positions in sessions for p in positions]
        yield self.header(every)
        streams = [self.records(positions) for positions in sessions]
        for _, record in heapq.merge(*streams, key=lambda item: item[0]):
            yield record


def _read_record(handle: object, stored: StoredFile, offset: int) -> tuple[int, bytes]:
    head = handle.read(16)  # type: ignore[attr-defined]
    if len(head) < 16:
        raise PacketsGone(f"{stored.name}: no packet at offset {offset} (the file ends at or before it)")
    caplen = RECORD_HEADER.unpack(head)[2]
    if caplen > stored.snaplen:
        raise PacketsGone(f"{stored.name}: offset {offset} is not the start of a packet record")
    data = handle.read(caplen)  # type: ignore[attr-defined]
    if len(data) < caplen:
        raise PacketsGone(f"{stored.name}: the packet at offset {offset} is cut short")
    sec, usec = _TS.unpack_from(head)
    return sec * 1_000_000 + usec, head + data
