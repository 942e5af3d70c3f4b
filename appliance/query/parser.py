"""Lexer and recursive-descent parser for Arkime's search expressions (``arkimeparser.jison``).

Grammar (precedence low to high: ``||``, ``&&``, ``!``)::

    expr    := and ( "||" and )*
    and     := unary ( "&&" unary )*
    unary   := "!" unary | "(" expr ")" | FIELD op value
    op      := "==" | "=" | "!=" | "<" | "<=" | ">" | ">="
    value   := STR | QUOTEDSTR | REGEXSTR | LIST | "EXISTS!"

Tokens are matched longest-first among strings, so ``/p/a.pcap`` is a plain string and ``/a|b/``
a regex; a tie goes to the plain string (``/ab/`` then reads as a regex by its slashes, as in
Arkime). Every error carries the character position where the expected token was missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class QueryError(ValueError):
    """A bad expression: ``position`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position})")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Token:
    kind: str  # STR QUOTED REGEX LIST EXISTS OP AND OR NOT LPAREN RPAREN END
    text: str
    pos: int


@dataclass(frozen=True)
class Compare:
    field: str
    op: str  # == != < <= > >=
    value: Token
    pos: int


@dataclass(frozen=True)
class Bool:
    op: str  # and / or
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | Bool | Not

_STRINGS = (
    ("QUOTED", re.compile(r'"(?:\\.|[^"\\])*"')),
    ("REGEX", re.compile(r"/(?:\\.|[^/\\])*/")),
    ("LIST", re.compile(r"\[(?:\\.|[^\]\\])*\]|\](?:\\.|[^\[\\])*\[")),
    ("STR", re.compile(r"[-+a-zA-Z0-9_.@:*?/$]+")),
)
_PUNCT = (("EXISTS!", "EXISTS"), ("==", "OP"), ("!=", "OP"), ("<=", "OP"), (">=", "OP"),
          ("&&", "AND"), ("||", "OR"), ("=", "OP"), ("<", "OP"), (">", "OP"), ("&", "AND"),
          ("|", "OR"), ("!", "NOT"), ("(", "LPAREN"), (")", "RPAREN"))


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with an END token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        token = _string_token(text, pos) or _punct_token(text, pos)
        if token is None:
            raise QueryError(f"unexpected character {text[pos]!r}", pos)
        tokens.append(token)
        pos += len(token.text)
    tokens.append(Token("END", "", len(text)))
    return tokens


def _string_token(text: str, pos: int) -> Token | None:
    if text.startswith("EXISTS!", pos):
        return Token("EXISTS", "EXISTS!", pos)
    best: Token | None = None
    for kind, pattern in _STRINGS:
        match = pattern.match(text, pos)
        if match and (best is None or len(match.group()) > len(best.text)
                      or (len(match.group()) == len(best.text) and kind == "STR")):
            best = Token(kind, match.group(), pos)
    return best


def _punct_token(text: str, pos: int) -> Token | None:
    for literal, kind in _PUNCT:
        if text.startswith(literal, pos):
            op = "==" if literal == "=" else literal
            return Token(kind, op if kind == "OP" else literal, pos)
    return None


class Parser:
    """Recursive descent over the token list; ``parse()`` returns the expression tree."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise QueryError("empty expression", 0)
        node = self.expr()
        end = self.peek()
        if end.kind != "END":
            raise QueryError(f"expected '&&', '||' or the end, found {end.text!r}", end.pos)
        return node

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expr(self) -> Node:
        items = [self.conjunction()]
        while self.peek().kind == "OR":
            self.take()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Bool("or", tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.peek().kind == "AND":
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else Bool("and", tuple(items))

    def unary(self) -> Node:
        token = self.take()
        if token.kind == "NOT":
            return Not(self.unary())
        if token.kind == "LPAREN":
            node = self.expr()
            close = self.take()
            if close.kind != "RPAREN":
                raise QueryError(f"expected ')', found {_shown(close)}", close.pos)
            return node
        if token.kind != "STR":
            raise QueryError(f"expected a field name, '!' or '(', found {_shown(token)}", token.pos)
        op = self.take()
        if op.kind != "OP":
            raise QueryError(f"expected an operator (==, !=, <, <=, >, >=) after {token.text!r}, "
                             f"found {_shown(op)}", op.pos)
        value = self.take()
        if value.kind not in ("STR", "QUOTED", "REGEX", "LIST", "EXISTS"):
            raise QueryError(f"expected a value after {op.text!r}, found {_shown(value)}", value.pos)
        return Compare(token.text, op.text, value, token.pos)


def _shown(token: Token) -> str:
    return "the end" if token.kind == "END" else repr(token.text)


def parse(text: str) -> Node:
    """Parse an expression; raises QueryError with a position."""
    return Parser(text).parse()
