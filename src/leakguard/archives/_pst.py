"""Outlook PST/OST files through ``libpff-python`` (the optional ``pst`` extra).

A PST item is not stored as an RFC 5322 message: it is rebuilt from what Outlook kept.
The internet headers when the item came in by mail (they carry To, Cc, Date and
Message-ID as sent), else the sender, recipients, subject and time from the item's
properties; then the plain-text body (or the HTML one), and every attachment with its
file name. The guard then reads it like any other message.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import HeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

from leakguard.archives._read import ArchivedMessage, ArchiveError, clean_message_id, parse_date

# MAPI property tags (the high 16 bits of a property tag).
_DISPLAY_NAME = 0x3001
_EMAIL_ADDRESS = 0x3003
_SMTP_ADDRESS = 0x39FE
_RECIPIENT_TYPE = 0x0C15
_SENDER_EMAIL = 0x0C1F
_SENDER_SMTP = 0x5D01
_MESSAGE_ID = 0x1035
_ATTACH_MIME = 0x370E

_RECIPIENT_HEADER = {1: "To", 2: "Cc", 3: "Bcc"}
# Headers that describe the MIME body Outlook kept apart: the rebuilt body has its own.
_BODY_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})


def _missing() -> ArchiveError:
    return ArchiveError(
        "reading PST files needs the optional 'pst' extra: pip install 'leakguard[pst]' "
        "(it installs libpff-python).",
        fr="la lecture des fichiers PST demande l'extension facultative « pst » : "
        "pip install 'leakguard[pst]' (elle installe libpff-python).",
    )


def read(path: Path, part: PstPart | None = None) -> Iterator[ArchivedMessage]:
    """Every message of every folder of a PST file, depth first in folder order.

    ``part`` reads only items ``start`` to ``stop`` of one folder (a shard), numbered
    from ``first``. A damaged item, or a damaged place in the folder tree, is an item
    with ``error`` set, and the walk goes on.
    """
    pst = _open(path)
    try:
        if part is None:
            try:
                root = pst.get_root_folder()
            except _DAMAGE as exc:
                yield _damaged(path, 1, exc)
                return
            items: Iterator[Any] = _messages(root)
            number = 0
        else:
            items = _part(pst, part)
            number = part.first - 1
        for item in items:
            number += 1
            yield _message(path, number, item)
    finally:
        pst.close()


def _part(pst: Any, part: PstPart) -> Iterator[Any]:
    """The items of one folder's range, or the error in the place of each one that
    could not be reached."""
    try:
        folder = _folder(pst, part.folder)
    except _DAMAGE as exc:
        for _ in range(part.start, part.stop):
            yield exc
        return
    for i in range(part.start, part.stop):
        try:
            yield folder.get_sub_message(i)
        except _DAMAGE as exc:
            yield exc


@dataclass(frozen=True, slots=True)
class PstPart:
    """Items ``start`` to ``stop`` (excluded) of the folder reached by the sub-folder
    indexes ``folder`` from the root; the first of them is message number ``first``."""

    folder: tuple[int, ...]
    start: int
    stop: int
    first: int


def folders(path: Path) -> Iterator[tuple[tuple[int, ...], int | str]]:
    """Each folder of a PST file as (sub-folder indexes from the root, number of
    messages), in the order :func:`read` reads them. Where the folder tree is damaged,
    the count is the name of the error instead: :func:`read` gives one item with an
    error there."""
    pst = _open(path)
    try:
        try:
            root = pst.get_root_folder()
        except _DAMAGE as exc:
            yield (), type(exc).__name__
            return
        yield from _counts(root, (), 0)
    finally:
        pst.close()


def damaged(path: Path, number: int, why: str) -> ArchivedMessage:
    """Item ``number`` of a PST file, which could not be read (``why``: the error's name)."""
    err = ArchiveError(
        f"{path}#{number}: this item could not be read ({why}).",
        fr=f"{path}#{number} : cet élément n'a pas pu être lu ({why}).",
    )
    return ArchivedMessage(f"{path}#{number}", b"", None, error=err)


def _open(path: Path) -> Any:
    try:
        import pypff
    except ImportError:
        raise _missing() from None
    pst = pypff.file()
    try:
        pst.open(str(path))
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"{path}: cannot open this PST file ({exc}).",
            fr=f"{path} : impossible d'ouvrir ce fichier PST ({exc}).",
        ) from None
    return pst


def _counts(
    folder: Any, where: tuple[int, ...], depth: int
) -> Iterator[tuple[tuple[int, ...], int | str]]:
    """What :func:`_messages` walks, folder by folder (its errors at the same places)."""
    if folder is None:
        return
    if depth > _MAX_FOLDER_DEPTH:
        yield where, RecursionError.__name__
        return
    try:
        yield where, folder.get_number_of_sub_messages()
    except _DAMAGE as exc:
        yield where, type(exc).__name__
    try:
        n = folder.get_number_of_sub_folders()
    except _DAMAGE as exc:
        yield where, type(exc).__name__
        n = 0
    for i in range(n):
        try:
            sub = folder.get_sub_folder(i)
        except _DAMAGE as exc:
            yield (*where, i), type(exc).__name__
            continue
        yield from _counts(sub, (*where, i), depth + 1)


def _folder(pst: Any, where: tuple[int, ...]) -> Any:
    folder = pst.get_root_folder()
    for i in where:
        folder = folder.get_sub_folder(i)
    return folder


def _message(path: Path, number: int, item: Any) -> ArchivedMessage:
    try:
        if isinstance(item, BaseException):
            raise item
        msg = _rebuild(item)
        data = msg.as_bytes()
    except _DAMAGE as exc:
        return _damaged(path, number, exc)
    message_id = clean_message_id(msg.get("Message-ID"))
    source = f"{path}#{number}" + (f" <{message_id}>" if message_id else "")
    return ArchivedMessage(source, data, parse_date(msg.get("Date")))


# What libpff and the rebuilding raise on a damaged item or one that is no message (a
# distribution list, free/busy data): the item is reported and the walk goes on.
_DAMAGE = (
    OSError,
    ValueError,
    TypeError,
    UnicodeError,
    LookupError,
    AttributeError,
    MemoryError,
    OverflowError,
    RecursionError,
)
# Deeper folders than any real mailbox has: a damaged file may loop.
_MAX_FOLDER_DEPTH = 64


def _damaged(path: Path, number: int, exc: BaseException) -> ArchivedMessage:
    return damaged(path, number, type(exc).__name__)


def _messages(folder: Any, depth: int = 0) -> Iterator[Any]:
    """Every item below ``folder``; where the folder tree itself is damaged, the error
    takes the place of what could not be reached, and the walk goes on."""
    if folder is None:
        return
    if depth > _MAX_FOLDER_DEPTH:
        yield RecursionError("folders nested too deeply")
        return
    try:
        count = folder.get_number_of_sub_messages()
    except _DAMAGE as exc:
        yield exc
        count = 0
    for i in range(count):
        try:
            yield folder.get_sub_message(i)
        except _DAMAGE as exc:
            yield exc
    try:
        folders = folder.get_number_of_sub_folders()
    except _DAMAGE as exc:
        yield exc
        folders = 0
    for i in range(folders):
        try:
            sub = folder.get_sub_folder(i)
        except _DAMAGE as exc:
            yield exc
            continue
        yield from _messages(sub, depth + 1)


def _entries(item: Any) -> dict[int, Any]:
    """The item's properties by tag, from its first record set."""
    out: dict[int, Any] = {}
    if item.get_number_of_record_sets() == 0:
        return out
    record_set = item.get_record_set(0)
    for j in range(record_set.get_number_of_entries()):
        entry = record_set.get_entry(j)
        out.setdefault(entry.get_entry_type(), entry)
    return out


def _text(entry: Any) -> str | None:
    if entry is None:
        return None
    try:
        value = entry.get_data_as_string()
    except (OSError, ValueError, TypeError):
        return None
    return str(value) if value else None


def _number(entry: Any) -> int | None:
    if entry is None:
        return None
    try:
        return int(entry.get_data_as_integer())
    except (OSError, ValueError, TypeError):
        return None


def _rebuild(item: Any) -> EmailMessage:
    props = _entries(item)
    msg = EmailMessage()
    raw_headers = item.get_transport_headers()
    if raw_headers:
        for name, value in HeaderParser(policy=compat32).parsestr(str(raw_headers)).items():
            if name.lower() in _BODY_HEADERS:
                continue
            try:
                msg[name] = value.replace("\r", " ").replace("\n", " ")
            except ValueError:
                continue  # a second Date, Message-ID...: the first one stands
    if "From" not in msg:
        sender = _text(props.get(_SENDER_SMTP)) or _text(props.get(_SENDER_EMAIL))
        if sender:
            msg["From"] = email.utils.formataddr((item.get_sender_name() or "", sender))
    if not any(h in msg for h in ("To", "Cc", "Bcc")):
        for header, addresses in _recipients(item).items():
            msg[header] = ", ".join(addresses)
    if "Subject" not in msg and item.get_subject():
        msg["Subject"] = str(item.get_subject())
    if "Date" not in msg:
        when = item.get_client_submit_time() or item.get_delivery_time()
        if isinstance(when, datetime):
            aware = when if when.tzinfo else when.replace(tzinfo=UTC)
            msg["Date"] = email.utils.format_datetime(aware)
    if "Message-ID" not in msg:
        message_id = _text(props.get(_MESSAGE_ID))
        if message_id:
            msg["Message-ID"] = message_id
    plain = item.get_plain_text_body()
    html = item.get_html_body()
    if plain:
        msg.set_content(_decode(plain))
    elif html:
        msg.set_content(_decode(html), subtype="html")
    else:
        msg.set_content("")
    for i in range(item.get_number_of_attachments()):
        _attach(msg, item.get_attachment(i), i)
    return msg


def _decode(body: bytes | str) -> str:
    """A body as text: UTF-8 when it is, else Windows-1252 (what Outlook stores)."""
    if isinstance(body, str):
        return body.rstrip("\x00")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("cp1252", errors="replace")
    return text.rstrip("\x00")


def _recipients(item: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    recipients = item.recipients
    if recipients is None:
        return out
    for k in range(recipients.get_number_of_record_sets()):
        record_set = recipients.get_record_set(k)
        props: dict[int, Any] = {}
        for j in range(record_set.get_number_of_entries()):
            entry = record_set.get_entry(j)
            props.setdefault(entry.get_entry_type(), entry)
        address = _text(props.get(_SMTP_ADDRESS)) or _text(props.get(_EMAIL_ADDRESS))
        if not address:
            continue
        header = _RECIPIENT_HEADER.get(_number(props.get(_RECIPIENT_TYPE)) or 1, "To")
        name = _text(props.get(_DISPLAY_NAME)) or ""
        out.setdefault(header, []).append(email.utils.formataddr((name, address)))
    return out


def _attach(msg: EmailMessage, attachment: Any, index: int) -> None:
    size = attachment.get_size()
    data = attachment.read_buffer(size) if size else b""
    name = attachment.get_long_filename() or f"attachment-{index + 1}"
    mime = _text(_entries(attachment).get(_ATTACH_MIME)) or "application/octet-stream"
    maintype, _, subtype = mime.partition("/")
    if maintype == "text" or not subtype:
        maintype, subtype = "application", "octet-stream"
    msg.add_attachment(bytes(data), maintype=maintype, subtype=subtype, filename=name)
