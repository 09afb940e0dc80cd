"""HTML to plain text, keeping paragraphs, line breaks and quoting (stdlib parser only)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre", "section"}
_SKIP = {"style", "script", "head", "title", "xml"}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.skip = 0
        self.quote = 0

    def _newline(self) -> None:
        if self.lines[-1].strip() or len(self.lines) == 1:
            self.lines.append("")
        else:
            self.lines[-1] = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
        elif tag == "br":
            self.lines.append("")
        elif tag == "hr" or (tag == "div" and ("id", "divRplyFwdMsg") in attrs):
            self._newline()
            self.lines[-1] = "_" * 32
            self.lines.append("")
        elif tag == "blockquote":
            self.quote += 1
            self._newline()
        elif tag in ("td", "th"):
            self.lines[-1] += " "
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
                self.lines.append("")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        text = re.sub(r"\s+", " ", data)
        if not text.strip() and not self.lines[-1]:
            return
        if self.quote and not self.lines[-1]:
            self.lines[-1] = "> " * self.quote
        self.lines[-1] += text


def html_to_text(html: str) -> str:
    """Return readable text for an HTML body or attachment; never raises on bad markup."""
    parser = _TextParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # malformed markup: keep what was read, drop the tags of the rest
        return re.sub(r"<[^>]*>", " ", html)
    text = "\n".join(line.strip() if not line.startswith(">") else line.rstrip() for line in parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
