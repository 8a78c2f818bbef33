"""Downloading the national MSSanté extraction and replacing the local copy safely.

The new file is written next to the old one under a temporary name, read through
(header, every row, the ZIP's checksums, a plausible number of rows) and only then
renamed over the old one: a cut download, a server error or a file of another shape
leaves the old directory in place. The standard library's ``urllib`` does the HTTP: one
GET of one file needs no more, and it keeps the base install free of an HTTP client.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import os
import ssl
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from pathlib import Path
from typing import IO

from leakguard import __version__
from leakguard._recipients.loaders import DirectoryLoadError
from leakguard._recipients.mssante import CACHE_SUFFIX, HealthDirectory, cache_header
from leakguard._recipients.mssante_file import (
    ANS_URL,
    DEFAULT_URL,
    ISSUES_KEPT,
    MIN_ROWS,
    Extraction,
    Tally,
    generation_from_name,
    open_extraction,
    read_rows,
)
from leakguard.errors import DirectoryError

__all__ = [
    "ANS_URL",
    "DEFAULT_URL",
    "MIN_ROWS",
    "Fetched",
    "HealthDirectoryFetchError",
    "fetch_health_directory",
]

#: The new file must keep at least this share of the old file's rows.
MIN_SHARE_OF_OLD = 0.5
#: Unusable rows allowed, as a share of the rows read.
MAX_BAD_SHARE = 0.01
MAX_BYTES = 1024**3
# The whole download, however slowly the server sends it (``timeout`` bounds each wait).
MAX_SECONDS = 30 * 60.0
_CHUNK = 1 << 20


class HealthDirectoryFetchError(DirectoryError):
    """The extraction could not be downloaded or is not fit to replace the old one.

    ``reason`` is a stable word for scripts: ``unreachable``, ``timeout``, ``http``,
    ``truncated``, ``too_large``, ``format``, ``too_few_rows``, ``bad_rows``,
    ``shrunk``, ``output`` or ``ca_file``. The old file is never touched.
    """

    def __init__(self, reason: str, message: str, message_fr: str) -> None:
        super().__init__(message, fr=message_fr)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fetched:
    """What was downloaded and put in place."""

    path: Path
    url: str
    size: int
    form: str  # "zip" or "txt"
    rows: int
    bad_rows: int
    generated: datetime
    generated_from: str  # "name", "last-modified" or "download"
    directory: HealthDirectory | None


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never from HTTPS to plain HTTP."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if req.full_url.lower().startswith("https:") and not newurl.lower().startswith("https:"):
            raise urllib.error.HTTPError(newurl, code, "redirect to plain HTTP", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _context(ca_file: str | os.PathLike[str] | None) -> ssl.SSLContext:
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=os.fspath(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise HealthDirectoryFetchError(
            "ca_file",
            f"--ca-file {ca_file}: not a readable PEM certificate file ({exc}).",
            f"--ca-file {ca_file} : ce n'est pas un fichier de certificats PEM lisible.",
        ) from None


def _filename(headers: Message, url: str) -> str:
    """The file name the server gives (Content-Disposition), else the URL's last part."""
    disposition = headers.get("Content-Disposition", "")
    if disposition:
        parsed = Message()
        parsed["Content-Disposition"] = disposition
        name = parsed.get_filename()
        if name:
            return name
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rpartition("/")[2])


def _shown_url(url: str) -> str:
    """The URL without its query, which may carry a key."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _download(
    url: str,
    out: IO[bytes],
    *,
    ca_file: str | os.PathLike[str] | None,
    timeout: float,
    max_bytes: int,
    max_seconds: float,
) -> tuple[int, Message, str]:
    """Write the body at ``url`` to ``out``; its size, the headers and the final URL."""
    shown = _shown_url(url)
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise HealthDirectoryFetchError(
            "unreachable",
            f"{shown}: only http:// and https:// addresses can be fetched.",
            f"{shown} : seules les adresses http:// et https:// peuvent être téléchargées.",
        )
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=_context(ca_file)), _NoDowngrade()
    )
    request = urllib.request.Request(url, headers={"User-Agent": f"leakguard/{__version__}"})
    size = 0
    until = time.monotonic() + max_seconds
    try:
        with opener.open(request, timeout=timeout) as response:
            declared = response.headers.get("Content-Length", "")
            while True:
                chunk = response.read1(_CHUNK)  # what has come, so the clock is read often
                if not chunk:
                    break
                if time.monotonic() > until:
                    raise HealthDirectoryFetchError(
                        "timeout",
                        f"{shown}: the download took longer than {max_seconds:g} s.",
                        f"{shown} : le téléchargement a pris plus de {max_seconds:g} s.",
                    )
                size += len(chunk)
                if size > max_bytes:
                    raise HealthDirectoryFetchError(
                        "too_large",
                        f"{shown}: the download is larger than {max_bytes // 1024**2} MB; "
                        "this is not the extraction.",
                        f"{shown} : le téléchargement dépasse {max_bytes // 1024**2} Mo ; ce "
                        "n'est pas l'extraction.",
                    )
                out.write(chunk)
            if declared.isdigit() and int(declared) != size:
                raise http.client.IncompleteRead(b"", int(declared) - size)
            return size, response.headers, response.geturl()
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the connection of the error's body
        raise HealthDirectoryFetchError(
            "http",
            f"{shown}: the server answered HTTP {exc.code} ({exc.reason}).",
            f"{shown} : le serveur a répondu HTTP {exc.code} ({exc.reason}).",
        ) from None
    except TimeoutError:
        raise HealthDirectoryFetchError(
            "timeout",
            f"{shown}: no answer within {timeout:g} s.",
            f"{shown} : pas de réponse en {timeout:g} s.",
        ) from None
    except (http.client.IncompleteRead, ConnectionResetError, http.client.RemoteDisconnected):
        raise HealthDirectoryFetchError(
            "truncated",
            f"{shown}: the download was cut short ({size} bytes received).",
            f"{shown} : le téléchargement a été interrompu ({size} octets reçus).",
        ) from None
    except urllib.error.URLError as exc:
        why = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
        raise HealthDirectoryFetchError(
            "unreachable",
            f"{shown}: cannot reach the server ({why or exc.reason}).",
            f"{shown} : serveur injoignable ({why or exc.reason}).",
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise HealthDirectoryFetchError(
            "unreachable",
            f"{shown}: the download failed ({exc}).",
            f"{shown} : le téléchargement a échoué ({exc}).",
        ) from None


def _old_rows(path: Path) -> int | None:
    """The rows of the file being replaced: from its cache when there is one, else by
    reading it; None when there is none, or it is not a usable extraction."""
    found = cache_header(path.with_name(path.name + CACHE_SUFFIX))
    rows = found[0].get("rows") if found is not None else None
    if isinstance(rows, int):
        return rows
    if not path.is_file():
        return None
    try:
        return _read_through(path, str(path))[1].rows
    except DirectoryLoadError:
        return None


def _read_through(path: Path, shown: str) -> tuple[Extraction, Tally]:
    """Read every row of the extraction at ``path`` as the loader does, keeping the count."""
    tally = Tally()
    with open_extraction(path) as (extraction, text):
        for _ in read_rows(text, tally, shown):
            pass
    return extraction, tally


def _verify(
    path: Path, shown: str, *, min_rows: int, old_rows: int | None
) -> tuple[str, Tally, datetime | None]:
    """Read the whole download as the loader will; raise the reason it is unfit."""
    try:
        extraction, tally = _read_through(path, shown)
    except DirectoryLoadError as exc:
        # Named by its address, not by the temporary file it was written to.
        en, fr = (m.replace(str(path), shown) for m in (str(exc), exc.message_fr))
        raise HealthDirectoryFetchError("format", en, fr) from None
    member = extraction.member
    when = generation_from_name(member) if member else None
    if not tally.last_line_complete:
        raise HealthDirectoryFetchError(
            "truncated",
            f"{shown}: the last line is cut short: the download is incomplete.",
            f"{shown} : la dernière ligne est coupée : le téléchargement est incomplet.",
        )
    if tally.rows < min_rows:
        raise HealthDirectoryFetchError(
            "too_few_rows",
            f"{shown}: only {tally.rows} usable row(s), at least {min_rows} expected.",
            f"{shown} : seulement {tally.rows} ligne(s) utilisable(s), au moins {min_rows} "
            "attendues.",
        )
    if tally.bad_rows > max(ISSUES_KEPT, MAX_BAD_SHARE * tally.rows):
        raise HealthDirectoryFetchError(
            "bad_rows",
            f"{shown}: {tally.bad_rows} unusable rows out of {tally.rows + tally.bad_rows}.",
            f"{shown} : {tally.bad_rows} lignes inutilisables sur {tally.rows + tally.bad_rows}.",
        )
    if old_rows and tally.rows < MIN_SHARE_OF_OLD * old_rows:
        raise HealthDirectoryFetchError(
            "shrunk",
            f"{shown}: {tally.rows} rows where the current file has {old_rows}; kept the "
            "current file.",
            f"{shown} : {tally.rows} lignes alors que le fichier actuel en a {old_rows} ; "
            "fichier actuel conservé.",
        )
    return extraction.form, tally, when


def fetch_health_directory(
    output: str | os.PathLike[str],
    /,
    *,
    url: str = DEFAULT_URL,
    ca_file: str | os.PathLike[str] | None = None,
    timeout: float = 60.0,
    min_rows: int = MIN_ROWS,
    max_bytes: int = MAX_BYTES,
    max_seconds: float = MAX_SECONDS,
    build_cache: bool = True,
) -> Fetched:
    """Download the extraction at ``url`` and put it at ``output`` once it is complete.

    The download goes to a temporary file in ``output``'s folder, is read through like
    ``HealthDirectory.load`` reads it (a damaged ZIP, another header, a cut last line,
    fewer than ``min_rows`` rows, more than 1 % unusable rows, or less than half the rows
    of the file it replaces are refused) and then renamed over ``output``. Its time is
    set to the generation time (from the ZIP member's or the served file's name, else
    the server's Last-Modified), which ``HealthDirectory`` reads back. With
    ``build_cache`` the compiled cache is made at once, so services start fast.
    ``timeout`` bounds each wait for the server, ``max_seconds`` and ``max_bytes`` the
    whole download.
    Raises ``HealthDirectoryFetchError`` (``reason`` says why); ``output`` is then left
    as it was.
    """
    out = Path(output)
    shown = _shown_url(url)
    folder = out.parent
    if not folder.is_dir():
        raise HealthDirectoryFetchError(
            "output",
            f"{out}: the folder {folder} does not exist.",
            f"{out} : le dossier {folder} n'existe pas.",
        )
    if out.is_dir():
        raise HealthDirectoryFetchError(
            "output",
            f"{out}: it is a folder; give the file to write.",
            f"{out} : c'est un dossier ; indiquez le fichier à écrire.",
        )
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".download", dir=folder)
    except OSError as exc:
        raise HealthDirectoryFetchError(
            "output",
            f"{out}: cannot write in {folder} ({exc.strerror or exc}).",
            f"{out} : impossible d'écrire dans {folder} ({exc.strerror or exc}).",
        ) from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            size, headers, final = _download(
                url,
                f,
                ca_file=ca_file,
                timeout=timeout,
                max_bytes=max_bytes,
                max_seconds=max_seconds,
            )
            f.flush()
            os.fsync(f.fileno())
        form, tally, when = _verify(temp, shown, min_rows=min_rows, old_rows=_old_rows(out))
        origin = "name"
        if when is None:
            when = generation_from_name(_filename(headers, final))
        if when is None:
            modified = headers.get("Last-Modified")
            with contextlib.suppress(TypeError, ValueError):
                if modified:
                    when = email.utils.parsedate_to_datetime(modified).astimezone()
                    when = when.replace(tzinfo=None)
                    origin = "last-modified"
        if when is None:
            when, origin = datetime.now().replace(microsecond=0), "download"
        stamp = when.timestamp()
        os.utime(temp, (stamp, stamp))
        temp.replace(out)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    directory = HealthDirectory.load(out) if build_cache else None
    return Fetched(out, shown, size, form, tally.rows, tally.bad_rows, when, origin, directory)
