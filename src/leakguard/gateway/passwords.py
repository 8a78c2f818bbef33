"""The relay's password file: one ``user:hash`` line per account, hashes in scrypt.

The hash is written as passlib writes scrypt (``$scrypt$ln=14,r=8,p=1$<salt>$<digest>``,
salt and digest in passlib's base64 with ``.`` for ``+`` and no padding), so a file made
by passlib or by ``python -m leakguard.gateway.passwords USER`` reads the same. Checked
with :func:`hashlib.scrypt`; nothing here ever keeps a password in clear.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from leakguard.errors import LeakguardError

__all__ = ["PasswordFile", "hash_password"]

# scrypt cost: 2**14 rounds of 8-block mixing, about 50 ms and 16 MiB per check.
_LN, _R, _P = 14, 8, 1
_HASH = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9./]+)\$(?P<digest>[A-Za-z0-9./]+)"
)


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").replace("+", ".").rstrip("=")


def _ab64_decode(text: str) -> bytes:
    padded = text.replace(".", "+") + "=" * (-len(text) % 4)
    return base64.b64decode(padded, validate=True)


def _scrypt(password: str, salt: bytes, ln: int, r: int, p: int, size: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << ln, r=r, p=p, maxmem=1 << 28, dklen=size
    )


def hash_password(password: str, /) -> str:
    """The scrypt hash of ``password``, with a new random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _LN, _R, _P, 32)
    return f"$scrypt$ln={_LN},r={_R},p={_P}${_ab64_encode(salt)}${_ab64_encode(digest)}"


@dataclass
class PasswordFile:
    """The accounts of a password file; :meth:`check` says whether a login is good.

    A login checked once is remembered for the life of the process (as a keyed hash of
    the user and password, never the password), so a client that connects often does
    not pay scrypt each time.
    """

    hashes: dict[str, str]
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _good: set[bytes] = field(default_factory=set, repr=False)

    @classmethod
    def load(cls, path: str | Path, /) -> PasswordFile:
        """Read ``path``; a line that is not ``user:$scrypt$…`` stops with its number."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or "not UTF-8 text"
            raise LeakguardError(
                f"cannot read the password file {p}: {reason}",
                fr=f"impossible de lire le fichier de mots de passe {p} : {reason}",
            ) from None
        hashes: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or _HASH.fullmatch(hashed) is None:
                raise LeakguardError(
                    f"{p}, line {number}: expected user:$scrypt$ln=…,r=…,p=…$salt$hash "
                    "(python -m leakguard.gateway.passwords USER writes one)",
                    fr=f"{p}, ligne {number} : attendu utilisateur:$scrypt$ln=…,r=…,p=…$sel$"
                    "empreinte (python -m leakguard.gateway.passwords UTILISATEUR en écrit une)",
                )
            hashes[user] = hashed
        return cls(hashes)

    def check(self, user: str, password: str, /) -> bool:
        """Whether ``password`` is ``user``'s; never raises."""
        hashed = self.hashes.get(user)
        token = hmac.new(self._key, f"{user}\0{password}".encode(), "sha256").digest()
        if hashed is None:
            return False
        if token in self._good:
            return True
        m = _HASH.fullmatch(hashed)
        if m is None:
            return False
        try:
            salt, digest = _ab64_decode(m["salt"]), _ab64_decode(m["digest"])
            ln, r, p = int(m["ln"]), int(m["r"]), int(m["p"])
            if not (1 <= ln <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
                return False
            good = hmac.compare_digest(_scrypt(password, salt, ln, r, p, len(digest)), digest)
        except (ValueError, MemoryError):
            return False
        if good:
            self._good.add(token)
        return good


def main(argv: list[str] | None = None) -> int:
    """``python -m leakguard.gateway.passwords USER``: ask a password, print the line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or ":" in args[0] or not args[0].strip():
        print("usage: python -m leakguard.gateway.passwords USER", file=sys.stderr)
        return 2
    first = getpass.getpass("Password / mot de passe: ")
    if first != getpass.getpass("Again / encore : ") or not first:
        print("passwords differ or empty / mots de passe différents ou vides", file=sys.stderr)
        return 2
    print(f"{args[0]}:{hash_password(first)}")
    return 0


if __name__ == "__main__":  # pragma: no cover - run by hand
    raise SystemExit(main())
