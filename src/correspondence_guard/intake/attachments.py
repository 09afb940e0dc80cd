"""Text from attachments: txt, csv, html, docx, xlsx, pdf. Never raises.

Office documents and PDFs are read in a bounded helper process (``isolated``).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable

from correspondence_guard.intake.documents import MAX_TEXT, docx_text, pdf_text, xlsx_text
from correspondence_guard.intake.html import html_to_text
from correspondence_guard.intake.isolated import isolated
from correspondence_guard.message import Attachment

MAX_BYTES = 10 * 1024 * 1024  # larger attachments are listed but not opened
# A .docx or .xlsx is a zip: its members' uncompressed sizes are read from the zip directory
# before anything is inflated, and a document that would expand past this is not opened
# (an 850 KB .docx expanding to 200 MB of XML held the service for a minute).
MAX_UNZIPPED = 50 * 1024 * 1024


def unzipped_size(data: bytes) -> int:
    """The total uncompressed size a zip's directory declares (its members are not read)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(info.file_size for info in archive.infolist())


def _decode(data: bytes, charset: str | None = None) -> str:
    for enc in (charset, "utf-8"):
        if enc:
            try:
                return data.decode(enc)
            except (LookupError, UnicodeDecodeError):
                continue
    return data.decode("cp1252", errors="replace")


def _csv(data: bytes) -> str:
    text = _decode(data[:MAX_BYTES]).lstrip("\ufeff")
    rows = csv.reader(io.StringIO(text))
    return "\n".join(", ".join(cell for cell in row) for row in rows)


_BY_SUFFIX: dict[str, Callable[[bytes], str]] = {
    ".txt": _decode,
    ".text": _decode,
    ".log": _decode,
    ".md": _decode,
    ".csv": _csv,
    ".htm": lambda d: html_to_text(_decode(d)),
    ".html": lambda d: html_to_text(_decode(d)),
    ".docx": docx_text,
    ".xlsx": xlsx_text,
    ".pdf": pdf_text,
}
_BY_TYPE = {
    "text/plain": ".txt",
    "text/csv": ".csv",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


_ISOLATED: dict[Callable[[bytes], str], str] = {docx_text: "docx", xlsx_text: "xlsx", pdf_text: "pdf"}


def extract(name: str, content_type: str, data: bytes, max_bytes: int = MAX_BYTES) -> Attachment:
    """Build an Attachment with its text; problems are recorded, not raised."""
    content_type = (content_type or "application/octet-stream").split(";")[0].strip().lower()
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else _BY_TYPE.get(content_type, "")
    reader = _BY_SUFFIX.get(suffix) or _BY_SUFFIX.get(_BY_TYPE.get(content_type, ""))

    def attachment(text: str = "", problem: str = "") -> Attachment:
        return Attachment(name=name, content_type=content_type, size=len(data), text=text, problem=problem)

    if reader is None:
        return attachment(problem="no text extracted from this type")
    if len(data) > max_bytes:
        return attachment(problem=f"over {max_bytes // (1024 * 1024)} MB: not opened")
    try:
        if reader in (docx_text, xlsx_text) and unzipped_size(data) > MAX_UNZIPPED:
            return attachment(
                problem=f"could not be read: expands to over {MAX_UNZIPPED // (1024 * 1024)} MB"
            )
        if reader in _ISOLATED:  # office documents and PDFs: in the bounded helper process
            text, problem = isolated().read(_ISOLATED[reader], data)
            if problem:
                return attachment(problem=problem)
        else:
            text = reader(data)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, Exception) as exc:  # noqa: BLE001 - bad files
        return attachment(problem=f"could not be read: {type(exc).__name__}")
    return attachment(text=text[: MAX_TEXT + 1])  # one more: a longer text shows as cut (limits.py)
