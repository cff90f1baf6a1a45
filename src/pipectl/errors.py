"""The errors pipectl reports to users.

Every refusal or bad input is raised as a :class:`PipectlError`; the CLI turns it into one
``Error: ...`` line on stderr and the error's exit code, in one place (``cli.main``).
"""

from __future__ import annotations


class PipectlError(Exception):
    """A problem the user can fix: bad input, a refused rule, a bad file. Exit code 2."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PipectlError):
    """A lead, stage or file that does not exist."""


class Ambiguous(PipectlError):
    """A lead reference that matches more than one lead."""


class Refused(PipectlError):
    """A rule said no: the qualification gate, moving a closed lead, overwriting a file."""


class ConfigError(PipectlError):
    """A config or checklist file that cannot be used."""


class DatabaseError(PipectlError):
    """A database that cannot be used: from a newer pipectl, not a pipectl database, missing."""


class NoDatabase(DatabaseError):
    """No database there yet (a read command does not create one)."""


class Unsettled(Refused):
    """A killed run was handing a message (``subject``, at ``at``) to the lead: whether it went is unknown,
    so pipectl sends it nothing more until the rep settles that (SPEC §13)."""

    def __init__(self, message: str, subject: str, at: str) -> None:
        super().__init__(message)
        self.subject, self.at = subject, at


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after a command changed something: ``message`` says what was done and what is left unsure."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
