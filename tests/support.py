"""Helpers the test folders share (tests/ is on sys.path: ``from support import ...``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest


def require_tool(name: str, install: str) -> str:
    """The path of program ``name``; skip the test without it, but fail in CI (CG_TESTS_REQUIRE_ALL=1)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed ({install})"
        if os.environ.get("CG_TESTS_REQUIRE_ALL"):
            pytest.fail(reason + " and CG_TESTS_REQUIRE_ALL is set")
        pytest.skip(reason)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that was free a moment ago (for a server started in a subprocess)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def self_signed_certificate(cert: Path, key: Path, openssl: str = "openssl") -> None:
    """Write a two-day self-signed certificate for localhost and 127.0.0.1, and its key (PEM)."""
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
