#!/usr/bin/env python3
"""Verify the seeded-bug TDD fixtures in this directory.

For every project directory holding a scenario.json:
  1. copy it to a temp dir, run the test command, expect a non-zero exit and the
     `failing_before` names in the output (a project that fails to compile prints
     no test names; there the names are checked in the test listing after the fix);
  2. apply `fix` (Aider SEARCH/REPLACE blocks) and expect the tests to pass, and
     every `failing_before` name to be a real test in the project's test listing;
  3. apply `wrong_fix` to a fresh copy and expect the tests to still fail.

Usage: python3 check.py [project ...]      (stdlib only, Python 3.11)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = Path.home() / ".cache" / "trae-venv" / "bin" / "python"
TARGET_ROOT = Path("/tmp/tdd-projects-target")
IGNORE = shutil.ignore_patterns("__pycache__", ".pytest_cache", "target", "Cargo.lock")
TIMEOUT = 600


class CheckError(Exception):
    pass


# ---------------------------------------------------------------- edit blocks

SEARCH_RE = re.compile(r"^<{5,9} SEARCH\s*$")
DIVIDER_RE = re.compile(r"^={5,9}\s*$")
REPLACE_RE = re.compile(r"^>{5,9} REPLACE\s*$")


def parse_blocks(reply: str) -> list[tuple[str, str, str]]:
    """Return (path, search, replace) triples from an Aider-style reply.

    The path is the last non-blank line before the block's opening fence
    (```lang) or, with no fence, the line just before `<<<<<<< SEARCH`.
    """
    lines = reply.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if not SEARCH_RE.match(lines[i]):
            i += 1
            continue
        # find the path: walk back over the fence and blank lines
        j = i - 1
        while j >= 0 and (not lines[j].strip() or lines[j].strip().startswith("```")):
            j -= 1
        if j < 0:
            raise CheckError(f"no file path before SEARCH at line {i + 1}")
        path = lines[j].strip().strip("`*").strip()
        k = i + 1
        search: list[str] = []
        while k < len(lines) and not DIVIDER_RE.match(lines[k]):
            search.append(lines[k])
            k += 1
        if k >= len(lines):
            raise CheckError(f"unterminated SEARCH section for {path}")
        k += 1
        replace: list[str] = []
        while k < len(lines) and not REPLACE_RE.match(lines[k]):
            replace.append(lines[k])
            k += 1
        if k >= len(lines):
            raise CheckError(f"unterminated REPLACE section for {path}")
        join = lambda ls: "\n".join(ls) + "\n" if ls else ""
        blocks.append((path, join(search), join(replace)))
        i = k + 1
    if not blocks:
        raise CheckError("reply contains no SEARCH/REPLACE block")
    return blocks


def apply_reply(root: Path, reply: str) -> list[str]:
    """Apply every block of `reply` under `root`; returns the edited paths."""
    edited = []
    for path, search, replace in parse_blocks(reply):
        if os.path.isabs(path) or ".." in Path(path).parts:
            raise CheckError(f"block path escapes the project: {path}")
        nonblank = len(re.sub(r"\s", "", search))
        if nonblank < 10:
            raise CheckError(f"SEARCH text for {path} has only {nonblank} non-blank chars")
        target = root / path
        if not target.is_file():
            raise CheckError(f"block names a missing file: {path}")
        text = target.read_text()
        count = text.count(search)
        if count != 1:
            raise CheckError(f"SEARCH text occurs {count} times in {path}:\n{search}")
        target.write_text(text.replace(search, replace, 1))
        edited.append(path)
    return edited


# ---------------------------------------------------------------- running

_python: str | None = None


def has_pytest(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import pytest"], capture_output=True,
                              timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def python_for_tests() -> str:
    """The venv's python once it exists with pytest (waiting up to 10 min for it),
    else python3 (installing pytest with --user if it lacks it)."""
    global _python
    if _python:
        return _python
    deadline = time.monotonic() + 600
    while True:
        if VENV_PYTHON.exists() and has_pytest(str(VENV_PYTHON)):
            _python = str(VENV_PYTHON)
            return _python
        if time.monotonic() > deadline:
            break
        print(f"waiting for {VENV_PYTHON} with pytest ...", flush=True)
        time.sleep(15)
    py = shutil.which("python3") or sys.executable
    if not has_pytest(py):
        subprocess.run([py, "-m", "pip", "install", "--user", "pytest"], check=True)
    _python = py
    return _python


def command(argv: list[str]) -> list[str]:
    argv = list(argv)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python_for_tests()
    return argv


def run(project: str, root: Path, argv: list[str]) -> tuple[int, str, float]:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["CARGO_TARGET_DIR"] = str(TARGET_ROOT / project)
    env.setdefault("CARGO_TERM_COLOR", "never")
    start = time.monotonic()
    proc = subprocess.run(command(argv), cwd=root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    return proc.returncode, proc.stdout, time.monotonic() - start


def list_command(argv: list[str]) -> list[str]:
    """A command listing the project's test names, derived from its test command."""
    if argv[:2] == ["cargo", "test"]:
        return list(argv) + ["--", "--list"]
    if "pytest" in argv:
        return list(argv) + ["--collect-only"]
    raise CheckError(f"don't know how to list tests for {argv}")


def fresh_copy(src: Path, tmp: Path, name: str) -> Path:
    dst = tmp / name
    shutil.copytree(src, dst, ignore=IGNORE)
    return dst


def tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


# ---------------------------------------------------------------- checks

def check_project(project_dir: Path) -> list[str]:
    name = project_dir.name
    sc = json.loads((project_dir / "scenario.json").read_text())
    for key in ("description", "test", "failing_before", "fix", "wrong_fix"):
        if key not in sc:
            raise CheckError(f"scenario.json lacks {key!r}")
    argv, names = sc["test"], sc["failing_before"]
    if not names:
        raise CheckError("failing_before is empty")
    notes = []
    with tempfile.TemporaryDirectory(prefix=f"tdd-{name}-") as tmp_s:
        tmp = Path(tmp_s)

        # 1. the seeded bug fails
        root = fresh_copy(project_dir, tmp, "before")
        rc, out, secs = run(name, root, argv)
        if rc == 0:
            raise CheckError(f"tests pass before the fix:\n{tail(out)}")
        compile_error = "could not compile" in out or "error[E" in out
        missing = [n for n in names if n not in out]
        if missing and not compile_error:
            raise CheckError(f"failing_before names not in output: {missing}\n{tail(out)}")
        notes.append(f"before: exit {rc} in {secs:.1f}s"
                     + (" (compile error, no test ran)" if compile_error else ""))

        # 2. the fix makes them pass
        root = fresh_copy(project_dir, tmp, "fixed")
        edited = apply_reply(root, sc["fix"])
        rc, out, secs = run(name, root, argv)
        if rc != 0:
            raise CheckError(f"tests still fail after the fix:\n{tail(out)}")
        notes.append(f"fix ({len(edited)} block(s): {', '.join(sorted(set(edited)))}): "
                     f"exit 0 in {secs:.1f}s")
        rc, listing, _ = run(name, root, list_command(argv))
        unknown = [n for n in names if n not in listing]
        if rc != 0 or unknown:
            raise CheckError(f"failing_before names not in the test listing: {unknown}\n"
                             f"{tail(listing)}")

        # 3. the wrong fix applies but leaves the tests failing
        root = fresh_copy(project_dir, tmp, "wrong")
        edited = apply_reply(root, sc["wrong_fix"])
        rc, out, secs = run(name, root, argv)
        if rc == 0:
            raise CheckError(f"wrong_fix makes the tests pass:\n{tail(out)}")
        notes.append(f"wrong_fix ({len(edited)} block(s)): exit {rc} in {secs:.1f}s")
    return notes


def main(argv: list[str]) -> int:
    projects = sorted(p.parent for p in HERE.glob("*/scenario.json"))
    if argv:
        projects = [p for p in projects if p.name in argv]
    if not projects:
        print("no projects found")
        return 1
    failures = 0
    for p in projects:
        try:
            notes = check_project(p)
        except (CheckError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            failures += 1
            print(f"FAIL {p.name}: {e}")
        else:
            print(f"ok   {p.name}: " + "; ".join(notes))
        sys.stdout.flush()
    print(f"{len(projects) - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
