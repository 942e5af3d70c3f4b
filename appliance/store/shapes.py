"""Session documents as a shape (their field paths, in order) and a list of values.

Sessions of one kind have the same fields in the same order: a session-heavy capture's 33,000
documents have ~200 shapes, and a chunk of 256 of them ~60. The store works through a shape's
paths once (``Shape.steps``, filled by the store) and then reads each document's values by
position, instead of looking every path up in its plan again. Over the pipe to the store's
process (``writer_process``) a document is a shape number and its values: the child builds no
dict of ~40 entries per session (marshal inserts them one by one, resizing as it goes), and the
paths cross the pipe once per shape instead of once per session.
"""

from __future__ import annotations

from typing import Any, Final

from appliance.store.blob import packed_positions

# Shapes kept by each side of the pipe, and by an in-process store: ~2.5 KB each in the store
# (the paths, their index, the store's steps); emptied when full, as memo.py's memos are.
SHAPES_MAX: Final = 1_024


class Shape:
    """The field paths of the documents that have exactly these, in this order."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.keys = keys
        self.index: dict[str, int] = {key: i for i, key in enumerate(keys)}
        # What the store does with each path (FieldMap.plan's steps, None for an unknown path),
        # made by the store at the first document of this shape; ``steps_of`` is the plan's
        # generation they were made from.
        self.steps: list[tuple[str, int, int] | None] | None = None
        self.steps_of = -1
        # Where the paths that the store reads by name from every document are (-1: not
        # there), made by the store at the first document of this shape.
        self.read_at: list[int] | None = None


class Document:
    """One flat session document (``documents.flat_document``) as its shape and values, read
    like the dict it came from."""

    def __init__(self, shape: Shape, values: list[Any]) -> None:
        self.shape = shape
        self.values = values

    def get(self, key: str, default: Any = None) -> Any:
        i = self.shape.index.get(key)
        return default if i is None else self.values[i]

    def __getitem__(self, key: str) -> Any:
        i = self.shape.index.get(key)
        if i is None:
            raise KeyError(key)
        return self.values[i]

    def __contains__(self, key: str) -> bool:
        return key in self.shape.index

    def given(self, at: list[int], i: int, absent: Any) -> Any:
        """The value at position ``at[i]`` (-1: not there: ``absent``)."""
        j = at[i]
        return absent if j < 0 else self.values[j]

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(self.shape.keys, self.values, strict=True))


def document(doc: dict[str, Any]) -> Document:
    """A document of a shape of its own (for the odd one; a store interns its shapes)."""
    return Document(Shape(tuple(doc)), list(doc.values()))


class Shapes:
    """The shapes one store has met, so that documents of one kind share theirs."""

    def __init__(self) -> None:
        self.by_keys: dict[tuple[str, ...], Shape] = {}

    def document(self, doc: dict[str, Any]) -> Document:
        keys = tuple(doc)
        shape = self.by_keys.get(keys)
        if shape is None:
            if len(self.by_keys) >= SHAPES_MAX:
                self.by_keys.clear()
            shape = self.by_keys[keys] = Shape(keys)
        return Document(shape, list(doc.values()))


class ShapeEncoder:
    """The sending side of the pipe: numbers each new shape, sends its paths once.

    A chunk is ``(reset, new shapes' paths, [shape number, values, shape number, values, ...])``;
    with ``reset`` the numbering starts again before this chunk's new shapes (so that neither
    side's table outgrows SHAPES_MAX, even when every document of a chunk brings a new shape).
    The integer list under ``packed`` (packetPos) goes in the blob's packed form
    (``blob.packed_positions``): the store takes those bytes as they are, and ``marshal`` carries
    a few bytes instead of an int object a packet. The documents given are not changed."""

    def __init__(self, packed: str = "packetPos") -> None:
        self.numbers: dict[tuple[str, ...], int] = {}
        self.packed = packed
        self._packed_at: list[int] = []  # by shape number: where ``packed`` is (-1: not there)
        self._reset = False

    def forget(self) -> None:
        """Number from scratch (what was encoded last did not reach the other side)."""
        self.numbers.clear()
        self._packed_at.clear()
        self._reset = True

    def encode(self, docs: list[dict[str, Any]]) -> tuple[bool, list[tuple[str, ...]], list[Any]]:
        numbers = self.numbers
        packed_at = self._packed_at
        reset = self._reset or len(numbers) + len(docs) > SHAPES_MAX
        self._reset = False
        if reset:
            numbers.clear()
            packed_at.clear()
        new: list[tuple[str, ...]] = []
        flat: list[Any] = []
        for doc in docs:
            keys = tuple(doc)
            number = numbers.get(keys)
            if number is None:
                number = numbers[keys] = len(numbers)
                new.append(keys)
                packed_at.append(keys.index(self.packed) if self.packed in doc else -1)
            values = list(doc.values())
            at = packed_at[number]
            if at >= 0:
                positions = values[at]
                if type(positions) is list and positions and all(type(p) is int for p in positions):
                    values[at] = packed_positions(positions)
            flat.append(number)
            flat.append(values)
        return reset, new, flat


class ShapeDecoder:
    """The receiving side: the shapes in the order the encoder numbered them."""

    def __init__(self) -> None:
        self.shapes: list[Shape] = []

    def decode(self, chunk: tuple[bool, list[tuple[str, ...]], list[Any]]) -> list[Document]:
        reset, new, flat = chunk
        if reset:
            self.shapes.clear()
        shapes = self.shapes
        shapes.extend(Shape(keys) for keys in new)
        return [Document(shapes[flat[i]], flat[i + 1]) for i in range(0, len(flat), 2)]
