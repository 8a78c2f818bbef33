"""Inputs named by URL (``s3://``, ``sftp://``, ``file://``, ``memory://``...), read
through fsspec: :class:`FsPath` offers the few ``pathlib.Path`` operations the archive
readers use, so an mbox, a Maildir or a folder of ``.eml`` files is read the same way
wherever it is stored. fsspec comes with the optional ``cluster`` extra.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from leakguard.errors import InputError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

__all__ = ["FsPath", "Place", "UrlError", "is_url", "place"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class UrlError(InputError):
    """A URL input that cannot be opened at all: fsspec missing, an unknown protocol or
    a protocol whose backend is not installed (the reason, in English and French)."""

    def naming(self, raw: str) -> UrlError:
        """The same reason after the input's name, for a message on its own."""
        return UrlError(f"{raw}: {self.message('en')}.", fr=f"{raw} : {self.message('fr')}.")


def is_url(raw: str) -> bool:
    """Whether ``raw`` names its input by URL (``scheme://...``) rather than a path."""
    return bool(_URL.match(raw))


class FsPath:
    """A file or folder on an fsspec file system, behaving as much like ``Path`` as the
    archive readers need. ``str()`` gives the URL, which names it in every report."""

    def __init__(self, fs: AbstractFileSystem, path: str, url: str, kind: str | None = None):
        self.fs = fs
        self.path = path
        self.url = url
        if kind is not None:  # known from a listing: no look-up needed
            self.__dict__["_kind"] = kind

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"FsPath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FsPath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    def __lt__(self, other: FsPath) -> bool:
        return self.url < other.url

    def __truediv__(self, name: str) -> FsPath:
        return FsPath(self.fs, _join(self.path, name), _join(self.url, name))

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    @property
    def parent(self) -> FsPath:
        return FsPath(self.fs, _up(self.path), _up(self.url))

    @property
    def parents(self) -> list[FsPath]:
        found: list[FsPath] = []
        here = self
        while here.path.strip("/") and "/" in here.path.strip("/"):
            here = here.parent
            found.append(here)
        return found

    def relative_to(self, other: FsPath) -> str:
        return self.path[len(other.path.rstrip("/")) + 1 :]

    @cached_property
    def _kind(self) -> str | None:
        """``file``, ``directory``, or ``None`` when there is nothing there."""
        try:
            info = self.fs.info(self.path)
        except FileNotFoundError:
            return None
        return str(info.get("type"))

    def exists(self) -> bool:
        return self._kind is not None

    def is_dir(self) -> bool:
        return self._kind == "directory"

    def is_file(self) -> bool:
        return self._kind == "file"

    def size(self) -> int:
        """The file's size in bytes, as its file system reports it."""
        return int(self.fs.info(self.path).get("size") or 0)

    def open(self, mode: str = "rb") -> BinaryIO:
        # A bounded read-ahead: the mbox reader iterates lines, seeks and reads.
        return cast(BinaryIO, self.fs.open(self.path, mode))

    def read_bytes(self) -> bytes:
        return cast(bytes, self.fs.cat_file(self.path))

    def iterdir(self) -> Iterator[FsPath]:
        entries: list[dict[str, Any]] = self.fs.ls(self.path, detail=True)
        for e in entries:
            name = str(e["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name and _join(self.path, name) != self.path:
                yield FsPath(self.fs, _join(self.path, name), _join(self.url, name), e["type"])

    def rglob(self, pattern: str) -> Iterator[FsPath]:
        """Every file and folder below (only ``*`` is understood)."""
        assert pattern == "*"
        found: dict[str, dict[str, Any]] = self.fs.find(self.path, withdirs=True, detail=True)
        root = self.path.rstrip("/")
        for name, info in sorted(found.items()):
            name = name.rstrip("/")
            if name.startswith(root + "/"):
                rest = name[len(root) + 1 :]
                yield FsPath(self.fs, name, _join(self.url, rest), info.get("type"))


#: Where an input is: a local path, or a place on an fsspec file system.
Place = Path | FsPath


def place(raw: str) -> Place:
    """The input named ``raw``: a ``Path``, or an :class:`FsPath` for a URL.

    Raises :class:`UrlError` when the URL cannot be opened at all (fsspec or the
    protocol's backend not installed, an unknown protocol): the reason alone, as
    reports put it after the input's name (:meth:`UrlError.naming` adds it).
    """
    if not is_url(raw):
        return Path(raw)
    protocol = raw.split("://", 1)[0].lower()
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise UrlError(
            "reading URLs needs fsspec: install the extra leakguard[cluster]",
            fr="lire des URL demande fsspec : installez l'extension leakguard[cluster]",
        ) from None
    try:
        fs, path = url_to_fs(raw)
    except ValueError:
        raise UrlError(
            f"unknown protocol {protocol}://", fr=f"protocole {protocol}:// inconnu"
        ) from None
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None)
        what = f"the Python package {missing}" if missing else "its fsspec backend"
        quoi = f"le paquet Python {missing}" if missing else "son module fsspec"
        raise UrlError(
            f"{protocol}:// is not installed here: install {what}",
            fr=f"{protocol}:// n'est pas installé ici : installez {quoi}",
        ) from None
    return FsPath(fs, str(path), raw.rstrip("/") or raw)


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def _up(where: str) -> str:
    head, _, _ = where.rstrip("/").rpartition("/")
    return head if head and not head.endswith(":/") else where
