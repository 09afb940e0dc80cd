"""Office documents and PDFs are read in a separate process, bounded in memory and time.

A .docx, .xlsx or .pdf is a program's input format, and the libraries that read them can be
made to allocate gigabytes or loop for minutes by a crafted file. So they run in one helper
process per checking process, started on first use (``python -m
correspondence_guard.intake.isolated``), which limits its own address space
(``resource.setrlimit``) to what it had at start plus ``MEMORY_HEADROOM``. The caller waits at
most ``SECONDS`` for each file; a helper that runs over, runs out of memory or dies is killed
and replaced, and the file becomes "could not be read: ...". One file at a time per process.

The wire format on the helper's stdin and stdout: a request is ``kind`` (one line) and the
file's length (8 bytes, big-endian) and bytes; an answer is a status byte (``+`` text, ``-``
problem) and the UTF-8 text's length and bytes.
"""

from __future__ import annotations

import os
import selectors
import struct
import subprocess
import sys
import threading
from typing import IO

SECONDS = 5.0
STARTUP_SECONDS = 60.0
MEMORY_HEADROOM = 768 * 1024 * 1024
KINDS = ("docx", "xlsx", "pdf")
_LEN = struct.Struct(">Q")
OUT_OF_MEMORY = "could not be read: over the memory limit"


class Isolated:
    """The helper process, seen from the checking process."""

    def __init__(self, seconds: float = SECONDS, headroom: int = MEMORY_HEADROOM):
        self.seconds = seconds
        self.headroom = headroom
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def read(self, kind: str, data: bytes) -> tuple[str, str]:
        """(text, problem): the file's text, or why it could not be read."""
        with self._lock:
            try:
                proc = self._start()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(kind.encode() + b"\n" + _LEN.pack(len(data)) + data)
                proc.stdin.flush()
                status = _read_exactly(proc.stdout, 1, self.seconds)
                size = _LEN.unpack(_read_exactly(proc.stdout, _LEN.size, self.seconds))[0]
                body = _read_exactly(proc.stdout, size, self.seconds).decode("utf-8", "replace")
            except TimeoutError:
                self._stop()
                return "", f"could not be read: took over {self.seconds:g} s"
            except (OSError, EOFError, struct.error):
                code = self._stop()
                limit = " (over its memory limit)" if code in (-9, 1) else ""
                return "", f"could not be read: the reader stopped{limit}"
            if status != b"+" and body == OUT_OF_MEMORY:
                self._stop()  # it is ending itself: the next file starts a fresh one
        return (body, "") if status == b"+" else ("", body)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _start(self) -> subprocess.Popen[bytes]:
        """The running helper, or a new one once it says it is ready (its imports do not count
        against a file's time)."""
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "correspondence_guard.intake.isolated", str(self.headroom)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
            assert self._proc.stdout is not None
            try:
                _read_exactly(self._proc.stdout, 1, STARTUP_SECONDS)
            except TimeoutError:
                raise OSError("the reader did not start") from None
        return self._proc

    def _stop(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()
        return proc.wait()


def _read_exactly(stream: IO[bytes], size: int, seconds: float) -> bytes:
    """``size`` bytes from the helper, or TimeoutError when it takes longer than ``seconds``."""
    out = bytearray()
    fd = stream.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while len(out) < size:
            if not sel.select(seconds):
                raise TimeoutError
            chunk = os.read(fd, min(size - len(out), 1 << 20))
            if not chunk:
                raise EOFError
            out += chunk
    return bytes(out)


_ISOLATED: Isolated | None = None


def isolated() -> Isolated:
    """This process's helper."""
    global _ISOLATED
    if _ISOLATED is None:
        _ISOLATED = Isolated()
    return _ISOLATED


def _serve(headroom: int) -> None:  # pragma: no cover - runs in the helper process
    import resource

    from correspondence_guard.intake.documents import docx_text, pdf_text, xlsx_text

    readers = {"docx": docx_text, "xlsx": xlsx_text, "pdf": pdf_text}
    with open("/proc/self/statm") as f:  # noqa: PTH123
        size = int(f.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (size + headroom, size + headroom))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    stdout.write(b"R")  # ready
    stdout.flush()
    while kind := stdin.readline().strip().decode():
        data = stdin.read(_LEN.unpack(stdin.read(_LEN.size))[0])
        try:
            status, text = b"+", readers[kind](data)
        except MemoryError:
            status, text = b"-", OUT_OF_MEMORY
        except Exception as exc:  # noqa: BLE001 - a bad file
            status, text = b"-", f"could not be read: {type(exc).__name__}"
        body = text.encode("utf-8", "replace")
        stdout.write(status + _LEN.pack(len(body)) + body)
        stdout.flush()
        if text == OUT_OF_MEMORY:
            return  # start afresh: memory may be fragmented past use


if __name__ == "__main__":  # pragma: no cover
    _serve(int(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_HEADROOM)
