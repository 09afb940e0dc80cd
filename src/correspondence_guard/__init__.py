"""correspondence-guard: advisory checks of council e-mail against Member/Officer Relations Protocols.

Flow: intake (Message) -> directory -> detectors -> findings -> notes -> outputs.
"""

from correspondence_guard import _threads  # noqa: F401, I001 - before anything loads NumPy
from correspondence_guard.directory import Directory, load_directory
from correspondence_guard.engine import Checker
from correspondence_guard.errors import (
    CorrespondenceGuardError,
    DirectoryError,
    MessageError,
    PolicyError,
)
from correspondence_guard.findings import Finding, Report, SendAction, Severity, Verdict
from correspondence_guard.intake import load_message, parse_draft, parse_eml, parse_msg
from correspondence_guard.message import Message
from correspondence_guard.policy import Policy, load_policy

__version__ = "0.1.0"
__all__ = [
    "Checker",
    "CorrespondenceGuardError",
    "Directory",
    "DirectoryError",
    "Finding",
    "Message",
    "MessageError",
    "Policy",
    "PolicyError",
    "Report",
    "SendAction",
    "Severity",
    "Verdict",
    "load_directory",
    "load_message",
    "load_policy",
    "parse_draft",
    "parse_eml",
    "parse_msg",
]
