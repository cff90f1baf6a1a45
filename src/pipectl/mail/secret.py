"""A mail account's password, from an environment variable or ``~/.netrc`` (SPEC §12, §13): never from
the config, a URL or the command line, and never repeated in a message (a .netrc parse error quotes a
token of the file, so only its line number is said). Shared by IMAP (reading) and SMTP (sending).
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path

from pipectl.errors import PipectlError


def credentials(what: str, host: str, user: str, env: str, form: str) -> tuple[str, str]:
    """The user and password for ``host``: ``env``'s value with ``user``, else the ``~/.netrc`` entry for
    the host (``NETRC`` names another file) whose login is ``user`` (any login when ``user`` is empty).
    ``what`` names the account in messages; ``form`` says how to name a user when none is given."""
    password = os.environ.get(env)
    if password:
        if not user:
            raise PipectlError(f"{what}: no user is named; write {form}")
        return user, password
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    missing = PipectlError(
        f"{what}: no password: set {env}, or add 'machine {host} login {user or 'USER'} password ...' to {path}"
    )
    if not path.exists():
        raise missing
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except OSError as exc:
        raise PipectlError(f"{path}: cannot read it ({exc.strerror})") from None
    except netrc.NetrcParseError as exc:  # its message can quote a token of the file, a password maybe
        raise PipectlError(f"{path}: not a valid .netrc file (line {exc.lineno})") from None
    if entry is None:
        raise missing
    login, _, netrc_password = entry
    if not netrc_password or (user and login and login != user) or not (user or login):
        raise missing
    return user or login, netrc_password
