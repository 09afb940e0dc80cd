"""Outlook .msg files, converted by Debian's ``msgconvert`` (libemail-outlook-message-perl).

msgconvert runs as a separate program, so the project keeps its own licence (the Python
alternative, extract-msg, is GPL-3.0). Its exit status is checked: mail-parser's own
.msg backend ignores it and returns an empty message for a corrupt file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from correspondence_guard.errors import MessageError
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.message import Message

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def parse_msg(data: bytes, max_attachment_bytes: int | None = None) -> Message:
    """Parse the bytes of an Outlook .msg file into a Message."""
    if not data.startswith(OLE_MAGIC):
        raise MessageError("not an Outlook .msg file (no OLE2 signature)")
    tool = shutil.which("msgconvert")
    if tool is None:
        raise MessageError(
            "reading .msg files needs msgconvert: apt-get install libemail-outlook-message-perl"
        )
    with tempfile.TemporaryDirectory(prefix="cg-msg-") as tmp:
        src = Path(tmp) / "in.msg"
        out = Path(tmp) / "out.eml"
        src.write_bytes(data)
        try:
            proc = subprocess.run(
                [tool, "--outfile", str(out), str(src)], capture_output=True, timeout=60, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MessageError("msgconvert took over 60 s on this .msg file") from exc
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            raise MessageError("not a readable Outlook .msg file (msgconvert could not convert it)")
        return parse_eml(out.read_bytes(), max_attachment_bytes)
