"""The mail gateway: a milter for Postfix/Sendmail and an SMTP relay, both calling ``Guard``.

A message is either delivered once or refused with a reason the sender sees: never
accepted unchecked, never lost. ``leakguard milter`` and ``leakguard relay`` run them;
both need the ``gateway`` extra (``pip install 'leakguard[gateway]'``). Import
:mod:`leakguard.gateway.milter` or :mod:`leakguard.gateway.relay` for the servers.
"""

from __future__ import annotations

from leakguard.gateway._decide import HEADER, Decision, Gatekeeper

__all__ = ["HEADER", "Decision", "Gatekeeper"]
