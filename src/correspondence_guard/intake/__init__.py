"""Message intake: every input form becomes one :class:`~correspondence_guard.message.Message`.

``load_message(path)`` picks the reader by file type; ``parse_eml`` (RFC 822 bytes),
``parse_msg`` (Outlook .msg) and ``parse_draft`` (the Outlook add-in's JSON) are the readers.
"""

from correspondence_guard.intake.draft import parse_draft
from correspondence_guard.intake.eml import parse_eml
from correspondence_guard.intake.files import MESSAGE_SUFFIXES, iter_message_files, load_message
from correspondence_guard.intake.msg import parse_msg

__all__ = ["MESSAGE_SUFFIXES", "iter_message_files", "load_message", "parse_draft", "parse_eml", "parse_msg"]
