"""Write a Unicode PST file from RFC 822 messages, with Aspose.Email for Python via .NET.

usage: python pst_build.py SPEC.json OUT.pst

SPEC.json: ``{"messages": [{"folder": "Projects/Archive", "mode": "headers", "rfc822": BASE64}, ...]}``.
Each message goes, in order, into its folder (a path of names under the PST's top folder, made
as needed). Mode "headers" keeps the message's transport headers, as a received message has
them; mode "properties" drops them, as in a message composed in Outlook, so a reader must take
From, To, Cc, Subject, Date and Message-ID from the MAPI properties.

The test-only dependency ``aspose-email-for-python-via-net`` (the 'pst-tests' extra) runs here
in evaluation mode: it appends "(Aspose.Email Evaluation)" to every subject and puts an
"EVALUATION ONLY ..." block in front of every plain-text body. test_archive_pst.py runs this
script as a subprocess, so .NET never loads in the test process.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys

# the bundled .NET does not find Debian 12's ICU: it must run without it, set before it starts
os.environ.setdefault("DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "1")

import aspose.email as ae  # noqa: E402
from aspose.email.mapi import MapiConversionOptions, MapiMessage, MapiPropertyTag  # noqa: E402
from aspose.email.storage.pst import FileFormatVersion, PersonalStorage  # noqa: E402

TRANSPORT_HEADERS = (
    MapiPropertyTag.TRANSPORT_MESSAGE_HEADERS,
    MapiPropertyTag.TRANSPORT_MESSAGE_HEADERS_A,
    MapiPropertyTag.TRANSPORT_MESSAGE_HEADERS_W,
)


def mapi_message(raw: bytes, mode: str) -> MapiMessage:
    options = MapiConversionOptions.unicode_format
    options.use_body_compression = True  # else the RTF body's CRC is 0 and libpff cannot read it
    message = MapiMessage.from_mail_message(ae.MailMessage.load(io.BytesIO(raw)), options)
    if mode == "properties":
        for tag in TRANSPORT_HEADERS:
            message.remove_property(tag)
    elif mode != "headers":
        raise SystemExit(f"pst_build: unknown mode {mode!r} (headers or properties)")
    return message


def main(spec_path: str, out: str) -> None:
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    if os.path.exists(out):
        os.remove(out)
    with PersonalStorage.create(out, FileFormatVersion.UNICODE) as pst:
        for entry in spec["messages"]:
            folder = pst.root_folder  # "Top of Personal Folders"; Aspose adds folders of its own there
            for name in entry["folder"].split("/"):
                folder = folder.get_sub_folder(name) or folder.add_sub_folder(name)
            folder.add_message(mapi_message(base64.b64decode(entry["rfc822"]), entry.get("mode", "headers")))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[1])
    main(sys.argv[1], sys.argv[2])
