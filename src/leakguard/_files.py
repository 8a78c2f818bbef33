"""Reading a file a person names (a policy, a directory, a message to protect) within a
limit: no more of it than the limit and a byte, and not from a device that never ends.
``/dev/zero`` named by mistake is said to be no file instead of filling the memory; a
file past the limit is said to be too large. A pipe (``/dev/stdin`` fed by a program) and
a terminal are read, as other tools read them.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["NotRegular", "TooLarge", "read_limited", "reason_fr"]


class NotRegular(OSError):
    """The path names a device (other than a terminal) or a socket."""


class TooLarge(OSError):
    """The file holds more than the limit."""


def read_limited(path: str | os.PathLike[str], most: int) -> bytes:
    """The bytes of the file at ``path``: a regular file, a pipe or a terminal.
    :class:`TooLarge` when it holds more than ``most`` (no more than ``most + 1`` bytes
    are read), :class:`NotRegular` for any other device or a socket, and the operating
    system's error otherwise (missing, a folder, no permission)."""
    file = Path(path)
    with file.open("rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        readable = stat.S_ISREG(mode) or stat.S_ISFIFO(mode)
        if not readable and not (stat.S_ISCHR(mode) and os.isatty(fh.fileno())):
            raise NotRegular(errno.EINVAL, "not a regular file", str(file))
        data = fh.read(most + 1)
    if len(data) > most:
        raise TooLarge(errno.EFBIG, os.strerror(errno.EFBIG), str(file))
    return data


def reason_fr(exc: OSError) -> str | None:
    """Why :func:`read_limited` refused a file, in French (None for any other error)."""
    if isinstance(exc, NotRegular):
        return "ce n'est pas un fichier ordinaire"
    if isinstance(exc, TooLarge):
        return "le fichier est trop gros"
    return None
