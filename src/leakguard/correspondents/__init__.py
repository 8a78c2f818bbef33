"""Correspondents learned from the Sent folder, kept on the user's own machine.

``leakguard learn SENT -o correspondents.db`` (or :func:`leakguard.learn.learn`) reads
the messages already sent and keeps, per address and per domain, how many messages went
there, how many carried sensitive data, the first and last date and the display names
used, plus the sets of recipients written to together. No subject, body, attachment or
identifier is stored. :class:`Correspondents` opens such a store for the guard, which
then reports ``first_time_recipient``, ``dormant_recipient``, ``unusual_recipient`` and
look-alikes of frequent correspondents.
"""

from __future__ import annotations

from leakguard.correspondents._book import Clock, Correspondents, Learned
from leakguard.correspondents._store import CorrespondentsError

__all__ = ["Clock", "Correspondents", "CorrespondentsError", "Learned"]
