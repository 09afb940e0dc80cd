"""One small exception hierarchy; every message is one line naming what is wrong."""


class CorrespondenceGuardError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits 2."""


class PolicyError(CorrespondenceGuardError):
    """A policy file is missing, malformed or holds a bad value (``path:line: key: problem``)."""


class DirectoryError(CorrespondenceGuardError):
    """A directory file is missing, malformed or holds a bad value (``path:line: key: problem``)."""


class MessageError(CorrespondenceGuardError):
    """A message cannot be read at all (not a message, unreadable, over the size limit)."""
