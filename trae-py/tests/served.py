"""A real `trae serve` for the tests that talk to it over HTTP and WebSocket on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

ADMIN_PASSWORD = "admin password 123"


def trae_binary() -> str | None:
    explicit = os.environ.get("TRAE_BIN")
    if explicit:
        return explicit
    root = Path(__file__).resolve().parents[2]
    target = Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    for profile in ("debug", "release"):
        candidate = target / profile / "trae"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("trae")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(base: str, method: str, path: str, body: object = None, token: str | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


@contextlib.contextmanager
def server(data_dir: Path, **env_vars: str) -> Iterator[str]:
    """`trae serve` on `data_dir` (admin `root`, `ADMIN_PASSWORD`), yielding its base URL."""
    binary = trae_binary()
    if binary is None:
        pytest.skip("the trae binary is not built; set TRAE_BIN or run cargo build -p trae-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAE_")}
    env.update(
        TRAE_DATA_DIR=str(data_dir),
        TRAE_BIND=f"127.0.0.1:{port}",
        TRAE_ADMIN_USERNAME="root",
        TRAE_ADMIN_PASSWORD=ADMIN_PASSWORD,
        TRAE_LOG="warn",
    )
    env.update(env_vars)
    proc = subprocess.Popen([binary, "serve", "--workers", "0"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request(base, "GET", "/api/health/live")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("trae serve did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
