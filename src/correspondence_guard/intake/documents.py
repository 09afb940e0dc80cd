"""Readers of Office documents and PDFs: bytes in, text out. They may raise on a broken file and
are run in the bounded helper process (``isolated``), which is why they live apart from
``attachments``: the helper imports only these.
"""

from __future__ import annotations

import io

MAX_TEXT = 200_000  # characters kept per attachment: enough for any rule, bounded for speed


def docx_text(data: bytes) -> str:
    import docx  # python-docx

    doc = docx.Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.append(", ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def xlsx_text(data: bytes) -> str:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    parts: list[str] = []
    size = 0  # a running total: summing every part after each row is quadratic in the rows
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            cells = [str(c) for c in row if c is not None]
            if cells:
                parts.append(", ".join(cells))
                size += len(parts[-1]) + 1
            if size > MAX_TEXT:
                break
        if size > MAX_TEXT:
            break
    book.close()
    return "\n".join(parts)


def pdf_text(data: bytes) -> str:
    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(data))
    out: list[str] = []
    for page in reader.pages[:200]:
        out.append(page.extract_text() or "")
        if sum(map(len, out)) > MAX_TEXT:
            break
    return "\n".join(out)
