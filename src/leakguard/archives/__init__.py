"""Read the messages stored in a mailbox archive, one at a time.

    from leakguard.archives import iter_messages

    for item in iter_messages("Sent.mbox"):
        verdict = guard.check(item.data, source=item.source)

What ``iter_messages`` accepts:

- an **mbox** file (one file, messages separated by ``From`` lines: Thunderbird, mutt,
  Google Takeout);
- a **Maildir** folder (``cur/``, ``new/``, ``tmp/``; sub-folders such as ``.Sent`` are
  Maildirs of their own and are read too);
- a **directory tree**: every ``.eml`` file below it, and every mbox file or Maildir
  found in it;
- a single ``.eml`` file;
- an Outlook **PST** or OST file, when the optional ``libpff-python`` package is installed
  (``pip install 'leakguard[pst]'``); without it, a clear :class:`ArchiveError` names the
  extra.

Messages come in a stable order (the order of the mbox file, Maildir file names, sorted
paths, PST folder order), one at a time: an archive of any size is read with the memory
of its largest message. Nothing here decides anything about a message; pass
:attr:`ArchivedMessage.data` to :meth:`leakguard.guard.Guard.check`.
"""

from __future__ import annotations

from leakguard.archives._read import (
    ArchivedMessage,
    ArchiveError,
    ArchiveKind,
    archive_kind,
    iter_messages,
)

__all__ = ["ArchiveError", "ArchiveKind", "ArchivedMessage", "archive_kind", "iter_messages"]
