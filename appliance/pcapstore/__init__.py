"""The PCAP store: every captured or imported packet in rotating classic pcap files under pcapDir.

``writer`` writes and rotates files and keeps the ``pcap_files`` registry, ``freespace`` deletes the
oldest files when the disk fills, ``reader`` reads a session's packets back. See docs/PCAP_STORE.md.
"""

from typing import Final

# Final: the compiled writer then has the number itself, not a module lookup per packet.
FILE_SHIFT: Final = 40  # a packet's position is file_number << 40 | byte offset of its record header
OFFSET_MASK: Final = (1 << FILE_SHIFT) - 1


class WriterError(OSError):
    """The store cannot take packets (disk full even after cleanup, pcapDir not writable...).

    Defined here, not in ``writer``, because ``writer`` is compiled (appliance/native.py) and
    mypyc cannot compile a subclass of OSError."""
