"""A subset of SOQL: a tokenizer, a recursive-descent parser and a compiler to Python closures.

Grammar (keywords are case-insensitive)::

    query      := SELECT items FROM name [WHERE cond] [ORDER BY order (, order)*]
                  [LIMIT int] [OFFSET int]
    items      := item (, item)*
    item       := path | COUNT ( [path] )
    path       := name (. name)*            -- Account.Name follows a lookup to its parent
    cond       := term (AND term)* | term (OR term)*   -- mixing AND and OR needs parentheses
    term       := NOT term | ( cond ) | path op literal | path [NOT] IN ( literal, ... )
                | path LIKE 'pattern'
    op         := = | != | <> | < | <= | > | >=
    order      := path [ASC | DESC] [NULLS FIRST | NULLS LAST]
    literal    := 'string' | number | TRUE | FALSE | NULL | 2026-01-31 | 2026-01-31T08:00:00Z

Errors are those of a real org: ``MALFORMED_QUERY`` for syntax, ``INVALID_TYPE`` for an
unknown object, ``INVALID_FIELD`` for an unknown field or a literal of the wrong type,
``INVALID_QUERY_FILTER_OPERATOR`` for a malformed Id, each with the query, a caret and
``ERROR at Row:r:Column:c`` in the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sandbox.salesforce.schema import NUMBER_TYPES, Field, SObjectType, normalize_id

Row = list[Any]
Getter = Callable[[Row], Any]
Lookup = Callable[[str], Mapping[str, Row]]

KEYWORDS = frozenset(
    {
        "select",
        "from",
        "where",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "and",
        "or",
        "not",
        "in",
        "like",
        "true",
        "false",
        "null",
        "group",
        "having",
        "with",
        "for",
        "using",
        "includes",
        "excludes",
        "typeof",
    }
)

_TOKEN = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    |(?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
    |(?P<number>[+-]?(?:\d+\.\d*|\.\d+|\d+)(?![A-Za-z_]))
    |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op><=|>=|!=|<>|=|<|>)
    |(?P<punct>[(),.])
    """,
    re.VERBOSE,
)


class SoqlError(Exception):
    """A query the org refuses: ``code`` is the errorCode, ``message`` the full message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int
    value: Any = None  # strings: the unescaped text; numbers: the float
    like: str | None = None  # strings: the pattern as a regular expression

    @property
    def keyword(self) -> str | None:
        lowered = self.text.lower()
        return lowered if self.kind == "ident" and lowered in KEYWORDS else None


def _error(query: str, pos: int, code: str, message: str) -> SoqlError:
    """The message a real org gives: the query's line, a caret under the spot, the position."""
    before = query[:pos]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = query.find("\n", pos)
    line = query[line_start : line_end if line_end >= 0 else len(query)]
    col = pos - line_start + 1
    caret = " " * (col - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{message}")


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos, length = 0, len(query)
    while pos < length:
        if query[pos] == "'":
            tokens.append(_string(query, pos))
            pos = tokens[-1].pos + len(tokens[-1].text)
            continue
        token_match = _TOKEN.match(query, pos)
        if token_match is None:
            raise _error(
                query,
                pos,
                "MALFORMED_QUERY",
                f"line 1:{pos} no viable alternative at character '{query[pos]}'",
            )
        kind = token_match.lastgroup or ""
        text = token_match.group()
        if kind != "ws":
            value = float(text) if kind == "number" else None
            tokens.append(Token(kind, text, pos, value))
        pos = token_match.end()
    tokens.append(Token("eof", "<EOF>", length))
    return tokens


def _string(query: str, start: int) -> Token:
    plain: list[str] = []
    like: list[str] = []
    pos = start + 1
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"'}
    while pos < len(query):
        ch = query[pos]
        if ch == "'":
            return Token(
                "string", query[start : pos + 1], start, "".join(plain), "".join(like) + r"\Z"
            )
        if ch == "\\":
            nxt = query[pos + 1 : pos + 2]
            if nxt in escapes:
                plain.append(escapes[nxt])
                like.append(re.escape(escapes[nxt]))
            elif nxt == "\\":
                plain.append("\\")
                like.append(re.escape("\\"))
            elif nxt in ("%", "_"):  # a literal % or _ in a LIKE pattern
                plain.append("\\" + nxt)
                like.append(re.escape(nxt))
            else:
                raise _error(
                    query,
                    pos,
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{query[start : pos + 2]}'. Illegal character "
                    "sequence '\\" + nxt + "' in string literal.",
                )
            pos += 2
            continue
        plain.append(ch)
        like.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        pos += 1
    raise _error(query, start, "MALFORMED_QUERY", f"unexpected token: '{query[start:]}'")


# --- the syntax tree ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Path:
    parts: tuple[str, ...]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any
    token: Token


@dataclass(frozen=True, slots=True)
class SelectItem:
    path: Path | None
    count: bool = False
    pos: int = 0


@dataclass(frozen=True, slots=True)
class Compare:
    path: Path
    op: str  # = != < <= > >= in notin like
    value: Literal | tuple[Literal, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # and, or
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Any


@dataclass(frozen=True, slots=True)
class OrderItem:
    path: Path
    desc: bool
    nulls_last: bool


@dataclass
class Query:
    text: str
    items: list[SelectItem]
    sobject: str
    sobject_pos: int
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def unexpected(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return _error(self.query, tok.pos, "MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def at_keyword(self, *words: str) -> bool:
        return self.tok.keyword in words

    def expect_keyword(self, word: str) -> Token:
        if self.tok.keyword != word:
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, text: str) -> Token:
        if self.tok.kind != "punct" or self.tok.text != text:
            raise self.unexpected()
        return self.advance()

    def name(self) -> Token:
        if self.tok.kind != "ident" or self.tok.keyword is not None:
            raise self.unexpected()
        return self.advance()

    def path(self) -> Path:
        first = self.name()
        parts = [first.text]
        while self.tok.kind == "punct" and self.tok.text == ".":
            self.advance()
            parts.append(self.name().text)
        return Path(tuple(parts), first.pos)

    def integer(self) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(tok.text)

    def parse(self) -> Query:
        self.expect_keyword("select")
        items = [self.select_item()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            items.append(self.select_item())
        self.expect_keyword("from")
        obj = self.name()
        query = Query(self.query, items, obj.text, obj.pos)
        if self.at_keyword("where"):
            self.advance()
            query.where = self.condition()
        if self.at_keyword("order"):
            self.advance()
            self.expect_keyword("by")
            query.order.append(self.order_item())
            while self.tok.kind == "punct" and self.tok.text == ",":
                self.advance()
                query.order.append(self.order_item())
        if self.at_keyword("limit"):
            self.advance()
            query.limit = self.integer()
        if self.at_keyword("offset"):
            self.advance()
            query.offset = self.integer()
        if self.tok.kind != "eof":
            raise self.unexpected()
        return query

    def select_item(self) -> SelectItem:
        tok = self.tok
        if tok.kind == "ident" and tok.text.lower() == "count" and self.peek_is("("):
            self.advance()
            self.expect_punct("(")
            path = None
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                path = self.path()
            self.expect_punct(")")
            return SelectItem(path, count=True, pos=tok.pos)
        return SelectItem(self.path(), pos=tok.pos)

    def peek_is(self, text: str) -> bool:
        nxt = self.tokens[self.i + 1]
        return nxt.kind == "punct" and nxt.text == text

    def order_item(self) -> OrderItem:
        path = self.path()
        desc = False
        if self.at_keyword("asc", "desc"):
            desc = self.advance().keyword == "desc"
        nulls_last = desc  # ascending puts nulls first, descending last
        if self.at_keyword("nulls"):
            self.advance()
            if not self.at_keyword("first", "last"):
                raise self.unexpected()
            nulls_last = self.advance().keyword == "last"
        return OrderItem(path, desc, nulls_last)

    def condition(self) -> Any:
        first = self.term()
        if not self.at_keyword("and", "or"):
            return first
        op = self.tok.keyword or ""
        items = [first]
        while self.at_keyword("and", "or"):
            if self.tok.keyword != op:  # SOQL wants parentheses where AND and OR meet
                raise self.unexpected()
            self.advance()
            items.append(self.term())
        return BoolOp(op, tuple(items))

    def term(self) -> Any:
        if self.at_keyword("not"):
            self.advance()
            return Not(self.term())
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        path = self.path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(path, op, self.literal(), tok.pos)
        if self.at_keyword("not"):
            self.advance()
            self.expect_keyword("in")
            return Compare(path, "notin", self.literal_list(), tok.pos)
        if self.at_keyword("in"):
            self.advance()
            return Compare(path, "in", self.literal_list(), tok.pos)
        if self.at_keyword("like"):
            self.advance()
            value = self.literal()
            if value.kind != "string":
                raise self.unexpected(value.token)
            return Compare(path, "like", value, tok.pos)
        raise self.unexpected()

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.literal()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return tuple(values)

    def literal(self) -> Literal:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(
                tok.kind, tok.value if tok.kind in ("string", "number") else tok.text, tok
            )
        if tok.keyword in ("true", "false"):
            self.advance()
            return Literal("boolean", tok.keyword == "true", tok)
        if tok.keyword == "null":
            self.advance()
            return Literal("null", None, tok)
        raise self.unexpected()


def parse(query: str) -> Query:
    return _Parser(query).parse()


# --- binding to the org's schema -----------------------------------------------------------


def datetime_text(value: datetime) -> str:
    """A datetime as the org writes it: UTC, milliseconds, ``+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


@dataclass
class Resolved:
    getter: Getter
    field: Field
    chain: tuple[Field, ...]  # the lookup fields followed (empty for a field of the object)


@dataclass
class Compiled:
    sobject: SObjectType
    predicate: Callable[[Row], bool] | None
    order: list[tuple[Getter, bool, bool, bool]]  # getter, descending, nulls last, casefold
    render: Callable[[Row, str], dict[str, Any]]
    count_only: bool  # SELECT COUNT() FROM ...
    count_items: list[Resolved | None]  # SELECT COUNT(Id), COUNT() ...
    limit: int | None
    offset: int | None


def _no_such_column(query: Query, path: Path, obj: SObjectType) -> SoqlError:
    return _error(
        query.text,
        path.pos,
        "INVALID_FIELD",
        f"No such column '{path.parts[-1]}' on entity '{obj.name}'. If you are attempting to "
        "use a custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names.",
    )


class Binder:
    """Turns a parsed query into closures over the org's rows."""

    def __init__(self, schema: Mapping[str, SObjectType], lookup: Lookup) -> None:
        self.schema = schema
        self.schema_lower = {name.lower(): t for name, t in schema.items()}
        self.lookup = lookup

    def compile(self, query: Query) -> Compiled:
        obj = self.schema_lower.get(query.sobject.lower())
        if obj is None:
            raise _error(
                query.text,
                query.sobject_pos,
                "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        counts = [item for item in query.items if item.count]
        count_only = False
        count_items: list[Resolved | None] = []
        if counts:
            if len(counts) != len(query.items):
                plain = next(item for item in query.items if not item.count)
                raise _error(
                    query.text,
                    plain.pos,
                    "MALFORMED_QUERY",
                    f"Field must be grouped or aggregated: {plain.path.text if plain.path else ''}",
                )
            count_only = len(counts) == 1 and counts[0].path is None
            count_items = [self.resolve(query, obj, c.path) if c.path else None for c in counts]
        seen: set[str] = set()
        for item in query.items:
            if item.path is None or item.count:
                continue
            key = self.canonical(query, obj, item.path).lower()
            if key in seen:
                raise _error(
                    query.text, item.pos, "MALFORMED_QUERY", f"duplicate field selected: {key}"
                )
            seen.add(key)
        predicate = self.condition(query, obj, query.where) if query.where is not None else None
        order = []
        for order_item in query.order:
            resolved = self.resolve(query, obj, order_item.path)
            order.append(
                (resolved.getter, order_item.desc, order_item.nulls_last, resolved.field.text)
            )
        render = self.renderer(query, obj)
        return Compiled(
            obj, predicate, order, render, count_only, count_items, query.limit, query.offset
        )

    # paths

    def canonical(self, query: Query, obj: SObjectType, path: Path) -> str:
        resolved = self.resolve(query, obj, path)
        return ".".join([*(f.relationship_name or "" for f in resolved.chain), resolved.field.name])

    def resolve(self, query: Query, obj: SObjectType, path: Path) -> Resolved:
        parts = list(path.parts)
        first = parts[0].lower()
        if len(parts) > 1 and first == obj.name.lower() and first not in obj.relationships:
            parts = parts[1:]  # SELECT Account.Name FROM Account
        chain: list[Field] = []
        current = obj
        for part in parts[:-1]:
            rel = current.relationships.get(part.lower())
            if rel is None:
                raise _error(
                    query.text,
                    path.pos,
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom relationship name. Please reference your WSDL or the "
                    "describe call for the appropriate names.",
                )
            chain.append(rel)
            current = self.schema[rel.reference_to[0]]
        field = current.field(parts[-1])
        if field is None:
            raise _no_such_column(query, path, current)
        index = current.index[field.name]
        if not chain:
            return Resolved(_item(index), field, ())
        steps = []
        walk = obj
        for rel in chain:
            steps.append((walk.index[rel.name], rel.reference_to[0]))
            walk = self.schema[rel.reference_to[0]]
        lookup = self.lookup

        def getter(row: Row) -> Any:
            for ref_index, target in steps:
                ref = row[ref_index]
                if ref is None:
                    return None
                parent = lookup(target).get(ref)
                if parent is None or parent[1]:  # missing or deleted
                    return None
                row = parent
            return row[index]

        return Resolved(getter, field, tuple(chain))

    # WHERE

    def condition(self, query: Query, obj: SObjectType, node: Any) -> Callable[[Row], bool]:
        if isinstance(node, BoolOp):
            parts = [self.condition(query, obj, item) for item in node.items]
            if node.op == "and":
                return lambda row: all(p(row) for p in parts)
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, Not):
            inner = self.condition(query, obj, node.item)
            return lambda row: not inner(row)
        assert isinstance(node, Compare)  # nosec B101  # the parser makes only these node kinds; this narrows the type
        return self.compare(query, obj, node)

    def compare(self, query: Query, obj: SObjectType, comparison: Compare) -> Callable[[Row], bool]:
        resolved = self.resolve(query, obj, comparison.path)
        get, field = resolved.getter, resolved.field
        if comparison.op == "like":
            assert isinstance(comparison.value, Literal)  # nosec B101  # the parser gives like a literal; this narrows the type
            if not field.text:
                raise _error(
                    query.text,
                    comparison.pos,
                    "INVALID_FIELD",
                    f"invalid operator on {field.type} field: {field.name}",
                )
            pattern = re.compile(comparison.value.token.like or "", re.IGNORECASE | re.DOTALL)
            return lambda row: (v := get(row)) is not None and pattern.match(v) is not None
        if comparison.op in ("in", "notin"):
            assert isinstance(comparison.value, tuple)  # nosec B101  # the parser gives in a list; this narrows the type
            values = {self.value(query, field, lit) for lit in comparison.value}
            if field.text:
                values = {v.lower() if isinstance(v, str) else v for v in values}

                def norm(field_value: Any) -> Any:
                    return field_value.lower() if isinstance(field_value, str) else field_value
            else:

                def norm(field_value: Any) -> Any:
                    return field_value

            if comparison.op == "in":
                return lambda row: norm(get(row)) in values
            return lambda row: norm(get(row)) not in values
        assert isinstance(comparison.value, Literal)  # nosec B101  # the parser gives a comparison a literal; this narrows the type
        value = self.value(query, field, comparison.value)
        if value is None:
            if comparison.op == "=":
                return lambda row: get(row) is None
            if comparison.op == "!=":
                return lambda row: get(row) is not None
            return lambda row: False
        if field.text:
            value = value.lower()
            base = get

            def get(row: Row) -> Any:
                field_value = base(row)
                return field_value.lower() if field_value is not None else None

        op = comparison.op
        if op == "=":
            return lambda row: get(row) == value
        if op == "!=":
            return lambda row: get(row) != value
        if op == "<":
            return lambda row: (v := get(row)) is not None and v < value
        if op == "<=":
            return lambda row: (v := get(row)) is not None and v <= value
        if op == ">":
            return lambda row: (v := get(row)) is not None and v > value
        return lambda row: (v := get(row)) is not None and v >= value

    def value(self, query: Query, field: Field, lit: Literal) -> Any:
        """The literal as the org stores values of ``field``, or INVALID_FIELD when it cannot be."""
        if lit.kind == "null":
            return None
        field_type = field.type

        def wrong(kind: str, quoted: bool) -> SoqlError:
            return _error(
                query.text,
                lit.token.pos,
                "INVALID_FIELD",
                f"value of filter criterion for field '{field.name}' must be of type {kind} and "
                + (
                    "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
                ),
            )

        if field_type in ("id", "reference"):
            if lit.kind != "string":
                raise wrong("id", True)
            normal = normalize_id(lit.value)
            if normal is None:
                raise _error(
                    query.text,
                    lit.token.pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {lit.value}",
                )
            return normal
        if field.text:
            if lit.kind != "string":
                raise wrong("string", True)
            return lit.value
        if field_type in NUMBER_TYPES:
            if lit.kind != "number":
                raise wrong("double" if field_type != "int" else "int", False)
            return lit.value
        if field_type == "boolean":
            if lit.kind != "boolean":
                raise wrong("boolean", False)
            return lit.value
        if field_type == "date":
            if lit.kind != "date":
                raise wrong("date", False)
            try:
                return date.fromisoformat(lit.value).isoformat()
            except ValueError:
                raise wrong("date", False) from None
        if field_type == "datetime":
            if lit.kind != "datetime":
                raise wrong("dateTime", False)
            try:
                return datetime_text(datetime.fromisoformat(lit.value))
            except ValueError:
                raise wrong("dateTime", False) from None
        raise wrong(field_type, False)

    # SELECT

    def renderer(self, query: Query, obj: SObjectType) -> Callable[[Row, str], dict[str, Any]]:
        tree: dict[str, Any] = {}  # name -> index (a field) or (ref index, type, subtree)
        for item in query.items:
            if item.path is None or item.count:
                continue
            resolved = self.resolve(query, obj, item.path)
            node = tree
            walk = obj
            for rel in resolved.chain:
                rel_name = rel.relationship_name or ""
                target = self.schema[rel.reference_to[0]]
                if rel_name not in node:
                    node[rel_name] = (walk.index[rel.name], target, {})
                node = node[rel_name][2]
                walk = target
            node[resolved.field.name] = walk.index[resolved.field.name]
        lookup = self.lookup

        def render(sobject: SObjectType, node: dict[str, Any], row: Row, version: str) -> dict:
            out: dict[str, Any] = {
                "attributes": {
                    "type": sobject.name,
                    "url": f"/services/data/v{version}/sobjects/{sobject.name}/{row[0]}",
                }
            }
            for name, spec in node.items():
                if isinstance(spec, int):
                    out[name] = row[spec]
                    continue
                ref_index, target, sub = spec
                ref = row[ref_index]
                parent = lookup(target.name).get(ref) if ref is not None else None
                if parent is None or parent[1]:
                    out[name] = None
                else:
                    out[name] = render(target, sub, parent, version)
            return out

        return lambda row, version: render(obj, tree, row, version)


def _item(index: int) -> Getter:
    return lambda row: row[index]
