"""HTML to plain text, keeping paragraphs, line breaks and quoting (stdlib parser only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "section"}
_SKIP = {"style", "script", "head", "title", "xml"}
_STRAY_LT = re.compile(r"<(?![A-Za-z/!?])")


class _TextParser(HTMLParser):
    """Lines of text; the line being written is a list of pieces, joined when the next line
    starts (adding to a string each time is quadratic on a line of millions of pieces)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.done: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0

    @property
    def lines(self) -> list[str]:
        return [*self.done, "".join(self.current)]

    def _line(self) -> str:
        if len(self.current) > 1:
            self.current = ["".join(self.current)]
        return self.current[0] if self.current else ""

    def _start_line(self, text: str = "") -> None:
        self.done.append("".join(self.current))
        self.current = [text] if text else []

    def _newline(self) -> None:
        if self._line().strip() or not self.done:
            self._start_line()
        else:
            self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self._start_line()
        elif tag == "hr" or (tag == "div" and ("id", "divRplyFwdMsg") in attrs):
            self._newline()
            self.current = ["_" * 32]
            self._start_line()
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in ("td", "th"):
            self.current.append(" ")
        elif tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "blockquote":
            self.quote = max(0, self.quote - 1)
            self._newline()
        elif tag in _BLOCK:
            self._newline()
            if tag == "p":
                self._start_line()

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        empty = not self.current or not any(self.current)
        if not text.strip() and empty:
            return
        if self.quote and empty:
            self.current = ["> " * self.quote]
        self.current.append(text)


def html_to_text(html: str) -> str:
    """Return readable text for an HTML body or attachment; never raises on bad markup."""
    parser = _TextParser()
    # A "<" that opens no tag is text: written as &lt; the parser reads it in one pass (left as
    # it is, the stdlib parser rescans the rest of the document at each one: quadratic)
    html = _STRAY_LT.sub("&lt;", html)
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # malformed markup: keep what was read, drop the tags of the rest
        return re.sub(r"<[^>]*>", " ", html)
    text = "\n".join(line.strip() if not line.startswith(">") else line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
