"""One small exception hierarchy; every message is one line naming what is wrong."""


class CorrespondenceGuardError(Exception):
    """Base class: the CLI prints ``str(err)`` on one line and exits 2."""


class PolicyError(CorrespondenceGuardError):
    """A policy file is missing, malformed or holds a bad value (``path:line: key: problem``).

    ``problems`` lists every problem found, in file and line order; the message is the first,
    with a count of the others (``policy validate`` prints them all)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = problems or [message]
        more = len(self.problems) - 1
        super().__init__(message + (f" (and {more} more: run `policy validate`)" if more > 0 else ""))


class DirectoryError(CorrespondenceGuardError):
    """A directory file is missing, malformed or holds a bad value (``path:line: key: problem``)."""


class MessageError(CorrespondenceGuardError):
    """A message cannot be read at all (not a message, unreadable, over the size limit)."""
