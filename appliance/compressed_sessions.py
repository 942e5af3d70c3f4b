"""Idle open sessions kept compressed in memory, and expanded again at their next packet.

An open TCP session with a parsed HTTP request is about 1.5 KB of Python objects: the session's
60-odd fields, its parser's state, the dicts and tuples they hold. In a big table most open
sessions are idle (a handshake and a request, then nothing for minutes). The session table
(``SessionTable``, ``compressSessionsAbove``) hands such sessions to this module, keeps the
bytes it returns (about 60-400 bytes) instead of the objects, and asks for the session back when
a packet comes for it or a timeout is due.

The form: the session's fields but its key, its timeout class and its table links, as a list
(``Session.state``);
the parsers' objects (instances of compiled classes, whose ``__new__`` runs ``__init__``) are
rebuilt by their no-argument constructor and given their fields back, through pickle's
dispatch table. pickle writes the tuple; raw deflate with a preset dictionary (the pickled
form of a fresh session and of every parser's fresh state, and the field names) compresses it,
so the names every session repeats cost a back-reference. Each blob starts with the packet-time
second at which the table must look at the session again (its idle or save timeout).

A session holding what cannot be rebuilt (the running hash of an HTTP body being read, a
parser class whose constructor needs arguments) is refused and stays as it is: compression is
only ever a saving, never a change in what is captured.
"""

from __future__ import annotations

import copyreg
import importlib
import io
import operator
import pickle
import pkgutil
import struct
import zlib
from typing import Any

from appliance import protocols
from appliance.decode import Frame
from appliance.sessions import Session

HEADER = struct.Struct("<q")  # the packet-time second at which the table looks at the session again

# Deflate with a 4 KB window and a small hash table: a blob is a few hundred bytes before
# compression, so a bigger window finds nothing more, and the state a compressor copies per
# session stays small (5-6 µs a session at level 1, against ~30 µs with zlib's defaults).
_WBITS = -12
_MEM_LEVEL = 4
_LEVEL = 1


class _Unset:
    """A field that was never set (kept unset rather than given a made-up value)."""

    def __reduce__(self) -> str:
        return "UNSET"  # pickled by name: the one instance comes back


UNSET = _Unset()


def field_names(cls: type) -> tuple[str, ...]:
    """The instance fields of a class: mypyc lists them in ``__mypyc_attrs__`` (a class
    attribute may be listed twice); interpreted, they are the slots of the class and its bases."""
    names = getattr(cls, "__mypyc_attrs__", None)
    if names is None:
        names = tuple(name for klass in reversed(cls.__mro__) for name in getattr(klass, "__slots__", ()))
    return tuple(dict.fromkeys(name for name in names if name != "__dict__"))


_NAMES: dict[type, tuple[str, ...]] = {}
_CLASSES: list[type] = []  # the compiled classes a blob may hold, by index (see _reducer)


def _rebuild(index: int, values: tuple[Any, ...]) -> Any:
    """An object of a compiled class from its fields (see ``_reducer``)."""
    cls = _CLASSES[index]
    obj = cls()
    for name, value in zip(_NAMES[cls], values, strict=True):
        if value is not UNSET:
            setattr(obj, name, value)
    return obj


def _reducer(cls: type) -> Any:
    """Pickle's reducer for a compiled class: its fields, and its index rather than its name
    (a class written by name costs an import lookup in every blob)."""
    names = _NAMES[cls] = field_names(cls)
    read = _reader(names)
    index = len(_CLASSES)
    _CLASSES.append(cls)

    def reduce(obj: Any) -> tuple[Any, ...]:
        return _rebuild, (index, read(obj))

    return reduce


def _reader(names: tuple[str, ...]) -> Any:
    """A function giving an object's fields as a tuple: one C call when all are set."""
    if not names:
        return lambda obj: ()
    together: Any = operator.attrgetter(*names)

    def read(obj: Any) -> tuple[Any, ...]:
        try:
            values: Any = together(obj)  # a tuple, or the one value when there is one name
        except AttributeError:  # a field never set
            return tuple(getattr(obj, name, UNSET) for name in names)
        return values if len(names) > 1 else (values,)

    return read


def _refuse(obj: Any) -> Any:
    raise pickle.PicklingError(f"{type(obj).__name__} is not kept compressed")


def _state_classes() -> list[type]:
    """Every class of the parsers' modules whose objects an open session may hold."""
    protocols.load_all()
    found: dict[type, None] = {}
    for info in pkgutil.iter_modules(protocols.__path__, protocols.__name__ + "."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                found[value] = None
    return list(found)


_DISPATCH: list[Any] = []  # (table, fresh objects), made once per process


def _dispatch_table() -> tuple[dict[type, Any], list[Any]]:
    """How pickle writes the parsers' objects, and a fresh object of each class it rebuilds;
    the same for every table, so made once.

    Compiled classes need their fields written out and a constructor called at load; one whose
    constructor takes arguments is refused. Interpreted classes pickle as they are. A session
    is never written whole."""
    if _DISPATCH:
        made: tuple[dict[type, Any], list[Any]] = _DISPATCH[0]
        return made
    table: dict[type, Any] = dict(copyreg.dispatch_table)
    fresh = []
    for cls in _state_classes():
        if not hasattr(cls, "__mypyc_attrs__"):
            continue
        try:
            fresh.append(cls())
        except TypeError:
            table[cls] = _refuse
        else:
            table[cls] = _reducer(cls)
    table[Session] = _refuse
    _DISPATCH.append((table, fresh))
    return table, fresh


# The preset dictionary ends with the first sessions this compressor sees, as written before
# compression: what varies little between the sessions of one network (its MAC addresses, the
# shape of its common parsers' state, the field names they fill) then costs a back-reference.
# On generated HTTP sessions that is ~50 bytes a blob, against ~280 from the fresh state alone.
_LEARN_BYTES = 3 << 10


class SessionCompressor:
    """Turns idle sessions into bytes and back (one per session table)."""

    def __init__(self) -> None:
        self._dispatch, fresh = _dispatch_table()
        self._template = Frame(0, 0, 0, 0)
        self._fresh = self._pickle(tuple(fresh)) + self._pickle(Session(b"", 0, self._template).state())
        self._learnt: list[bytes] = []
        self._compress: Any = None  # made once the first sessions are learnt
        self._expand: Any = None
        self.refused = 0

    def _pickle(self, value: Any) -> bytes:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, 5)
        pickler.dispatch_table = self._dispatch  # type: ignore[misc]  # settable per pickler
        pickler.dump(value)
        return out.getvalue()

    def _learn(self, raw: bytes) -> None:
        """Keep a session's pickled form for the preset dictionary; make it once there is enough."""
        self._learnt.append(raw)
        if sum(map(len, self._learnt)) < _LEARN_BYTES:
            return
        zdict = (self._fresh + b"".join(self._learnt))[-(1 << -_WBITS) :]
        self._compress = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WBITS, _MEM_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict)
        self._expand = zlib.decompressobj(_WBITS, zdict)
        self._learnt = []

    def compress(self, session: Session, due: int) -> bytes | None:
        """The session as bytes; None if it holds what cannot be rebuilt, and for the first few
        sessions, which go into the preset dictionary (they stay as they are, and are offered
        again later)."""
        try:
            raw = self._pickle(session.state())
        except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
            self.refused += 1
            return None
        if self._compress is None:
            self._learn(raw)
            return None
        deflate = self._compress.copy()
        return HEADER.pack(due) + deflate.compress(raw) + deflate.flush()

    @staticmethod
    def due(blob: bytes) -> int:
        """The second at which the table looks at this session again."""
        return int(HEADER.unpack_from(blob)[0])

    def expand(self, blob: bytes, key: Any, queue: int) -> Session:
        """The session again, with its key and timeout class (not in any chain yet)."""
        inflate = self._expand.copy()
        values = pickle.loads(inflate.decompress(memoryview(blob)[HEADER.size :]) + inflate.flush())
        session = Session(key, queue, self._template)
        session.restore(values)
        return session
