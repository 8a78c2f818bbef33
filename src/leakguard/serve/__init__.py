"""``leakguard serve``: the HTTPS service behind the Outlook add-in.

``POST /v1/check`` takes the message about to be sent (JSON, or the raw message as
``message/rfc822``) and answers with the guard's action, its findings, a short text for
the person and a ``verdict_id`` found again in the audit log. Needs the ``serve`` extra
(``pip install 'leakguard[serve]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leakguard.serve._config import ServeConfig, addin_dir

if TYPE_CHECKING:
    from leakguard.serve._app import create_app

__all__ = ["ServeConfig", "addin_dir", "create_app"]


def __getattr__(name: str) -> object:
    # The ASGI stack loads only when the service is wanted: addin_dir works without it.
    if name == "create_app":
        from leakguard.serve._app import create_app

        return create_app
    raise AttributeError(name)
