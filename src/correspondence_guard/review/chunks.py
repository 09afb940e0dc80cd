"""An archive split into chunks that any process (or any machine) can read on its own.

``plan(sources, chunk_size)`` lists the chunks of the archive sources, in order:

- ``mbox:PATH``: byte ranges of the file, each starting on a ``From `` separator line;
- ``maildir:PATH`` (with its Maildir++ subfolders) and ``folder:PATH`` (.eml files, and the
  mbox files and Maildirs found under it): lists of files of one folder;
- ``pst:PATH`` (and .ost): ranges of message positions in one PST folder (review/pst.py).

``items(chunk)`` then yields each message of one chunk as an ``Item``: where it is (the label
people read, its folder path in the archive, a stable number in that folder) and how to read
its bytes. A chunk is described only by paths and numbers, so it pickles small and is read
wherever the archive's path is mounted. Its ``id`` is a hash of that description: the
checkpoint of a chunk in the store is keyed by it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import mailbox
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from correspondence_guard.config import ConfigError
from correspondence_guard.mailbox.folders import is_maildir, is_mbox

KINDS = ("mbox", "maildir", "folder", "pst")
CHUNK_MESSAGES = 250  # messages in a chunk (a PST or mbox chunk may also end at CHUNK_BYTES)
CHUNK_BYTES = 64 * 1024 * 1024
_BLOCK = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ArchiveSource:
    kind: str  # mbox, maildir, folder or pst
    path: Path

    def __str__(self) -> str:
        return f"{self.kind}:{self.path}"


def parse_archive_source(text: str) -> ArchiveSource:
    """``mbox:PATH``, ``maildir:PATH``, ``folder:PATH``, ``pst:PATH`` or a bare path (guessed)."""
    kind, sep, rest = text.partition(":")
    if sep and kind in KINDS:
        path = Path(rest)
    elif sep and kind in ("imap", "ost"):
        if kind == "imap":
            raise ConfigError(
                f"--source {text}: --archive reads files (mbox:, maildir:, folder:, pst:), not IMAP"
            )
        path, kind = Path(rest), "pst"
    else:
        path = Path(text)
        if path.is_file() and path.suffix.lower() in (".pst", ".ost"):
            kind = "pst"
        elif is_maildir(path):
            kind = "maildir"
        elif path.is_file() and is_mbox(path):
            kind = "mbox"
        else:
            kind = "folder"
    if not path.exists():
        raise ConfigError(f"--source {text}: no such file or folder")
    if kind in ("mbox", "pst") and not path.is_file():
        raise ConfigError(f"--source {text}: not a file")
    if kind in ("maildir", "folder") and not path.is_dir():
        raise ConfigError(f"--source {text}: not a folder")
    return ArchiveSource(kind, path.resolve())


@dataclass(frozen=True, slots=True)
class Chunk:
    """Part of one archive file or folder; see the module docstring."""

    kind: str  # mbox, files or pst
    source: str  # the archive source it belongs to, e.g. ``mbox:/data/cllr-smith.mbox``
    path: str  # the mbox or PST file, or the folder the files are in
    folder: str  # the folder path in the archive, as the report shows it
    count: int  # messages in it (mbox and files: exact; PST: items in the range)
    start: int = 0  # mbox: first byte; pst: first message position
    end: int = 0  # mbox: the byte after the last; pst: after the last position
    files: tuple[str, ...] = ()  # files: names relative to ``path``
    pst_folder: tuple[int, ...] = ()  # pst: the folder's position at each level from the root
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.id:
            spec = {k: v for k, v in asdict(self).items() if k != "id"}
            digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]
            object.__setattr__(self, "id", digest)

    @property
    def label(self) -> str:
        if self.kind == "files":
            return f"{self.path} ({len(self.files)} files)"
        unit = "bytes" if self.kind == "mbox" else "messages"
        return f"{self.path} {self.folder} {unit} {self.start}-{self.end}"


@dataclass(frozen=True, slots=True)
class Item:
    """One message of a chunk."""

    label: str  # for people: a path, ``inbox.mbox#1234`` (byte offset) or ``export.pst#2097284``
    folder: str  # its folder path in the archive
    uid: int | None  # stable in its folder: the mbox offset, the PST identifier; None for files
    read: Callable[[], bytes]
    fallback_date: dt.datetime | None = None  # when it has no Date header: the file's mtime


# -- planning ------------------------------------------------------------------------------------
def plan(sources: list[ArchiveSource], chunk_size: int = CHUNK_MESSAGES) -> list[Chunk]:
    chunks: list[Chunk] = []
    for source in sources:
        if source.kind == "mbox":
            chunks += _plan_mbox(str(source), source.path, source.path.name, chunk_size)
        elif source.kind == "maildir":
            chunks += _plan_maildir(str(source), source.path, source.path.name, chunk_size)
        elif source.kind == "folder":
            chunks += _plan_folder(str(source), source.path, source.path, chunk_size)
        else:
            from correspondence_guard.review.pst import plan_pst

            chunks += plan_pst(str(source), source.path, chunk_size)
    return chunks


def mbox_starts(path: Path) -> Iterator[int]:
    """The byte offset of each ``From `` line starting a message, as Python's mailbox.mbox finds them."""
    with path.open("rb") as f:
        offset, tail = 0, b""
        while True:
            block = f.read(_BLOCK)
            if not block:
                return
            data = tail + block
            base = offset - len(tail)
            if base == 0 and data.startswith(b"From "):
                yield 0
            pos = data.find(b"\nFrom ")
            while pos != -1:
                yield base + pos + 1
                pos = data.find(b"\nFrom ", pos + 1)
            tail = data[-5:]  # a separator split across two blocks
            offset += len(block)


def _plan_mbox(source: str, path: Path, folder: str, chunk_size: int) -> list[Chunk]:
    size = path.stat().st_size
    starts = list(mbox_starts(path))
    out: list[Chunk] = []
    first = 0
    for n in range(1, len(starts) + 1):
        end = starts[n] if n < len(starts) else size
        if n == len(starts) or n - first >= chunk_size or end - starts[first] >= CHUNK_BYTES:
            out.append(Chunk("mbox", source, str(path), folder, n - first, starts[first], end))
            first = n
    return out


def _file_chunks(source: str, folder_path: Path, folder: str, names: list[str], size: int) -> list[Chunk]:
    return [
        Chunk(
            "files",
            source,
            str(folder_path),
            folder,
            len(names[i : i + size]),
            files=tuple(names[i : i + size]),
        )
        for i in range(0, len(names), size)
    ]


def _plan_maildir(source: str, path: Path, folder: str, chunk_size: int) -> list[Chunk]:
    names = [
        f"{sub}/{f.name}"
        for sub in ("cur", "new")
        if (path / sub).is_dir()
        for f in sorted((path / sub).iterdir())
        if f.is_file() and not f.name.startswith(".")
    ]
    out = _file_chunks(source, path, folder, names, chunk_size)
    for child in sorted(path.iterdir()):  # Maildir++ subfolders: .Sent, .Archive.2024 ...
        if child.name.startswith(".") and child.name not in (".", "..") and is_maildir(child):
            sub = child.name[1:].replace(".", "/")
            out += _plan_maildir(source, child, f"{folder}/{sub}", chunk_size)
    return out


def _plan_folder(source: str, root: Path, path: Path, chunk_size: int) -> list[Chunk]:
    here = path.relative_to(root).as_posix()
    folder = root.name if here == "." else f"{root.name}/{here}"
    out: list[Chunk] = []
    emls: list[str] = []
    for child in sorted(path.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if is_maildir(child):
                out += _plan_maildir(source, child, f"{folder}/{child.name}", chunk_size)
            else:
                out += _plan_folder(source, root, child, chunk_size)
        elif child.suffix.lower() == ".mbox" or is_mbox(child):
            out += _plan_mbox(source, child, f"{folder}/{child.name}", chunk_size)
        elif child.suffix.lower() == ".eml":
            emls.append(child.name)
    return _file_chunks(source, path, folder, emls, chunk_size) + out


# -- reading -------------------------------------------------------------------------------------
def items(chunk: Chunk) -> Iterator[Item]:
    if chunk.kind == "mbox":
        yield from _mbox_items(chunk)
    elif chunk.kind == "files":
        base = Path(chunk.path)
        for name in chunk.files:
            file = base / name
            yield Item(str(file), chunk.folder, None, file.read_bytes, _mtime(file))
    else:
        from correspondence_guard.review.pst import pst_items

        yield from pst_items(chunk)


def _mbox_items(chunk: Chunk) -> Iterator[Item]:
    """The messages starting in [start, end): each without its ``From `` line and without the empty
    line before the next separator, as ``mailbox.mbox.get_bytes`` gives them."""
    fallback = _mtime(Path(chunk.path))
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        data = f.read(chunk.end - chunk.start)
    more = chunk.end < _size(chunk.path)  # another message follows the range
    offset = 0
    while offset < len(data):
        nxt = data.find(b"\nFrom ", offset)
        stop = len(data) if nxt == -1 else nxt + 1
        block = data[offset:stop]
        line_end = block.find(b"\n")
        body = b"" if line_end == -1 else block[line_end + 1 :]
        if (nxt != -1 or more) and body.endswith(b"\n\n"):
            body = body[:-1]
        where = chunk.start + offset
        yield Item(f"{chunk.path}#{where}", chunk.folder, where, _const(body), fallback)
        offset = stop


def _const(value: bytes) -> Callable[[], bytes]:
    return lambda: value


def _size(path: str) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError:
        return None


def count_mbox(path: Path) -> int:
    """Messages in an mbox file, as Python's mailbox module counts them (for tests and the bench)."""
    box = mailbox.mbox(path, create=False)
    try:
        return len(box)
    finally:
        box.close()
