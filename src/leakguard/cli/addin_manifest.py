"""``leakguard addin-manifest``: the Outlook add-in's manifest for one service address."""

from __future__ import annotations

import argparse
import re
import uuid
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

from leakguard.cli._common import EXIT_ERROR, EXIT_OK, exit_codes, say, t, write_file
from leakguard.cli.serve import TOKEN_VARIABLE, read_token

TEMPLATE_BASE = "https://localhost:8443"
SEND_MODES = ("SoftBlock", "Block", "PromptUser")
_SCRIPTS = ("/addin/commands.html", "/addin/launchevent.js")


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "addin-manifest",
        help=t(
            "write the Outlook add-in's manifest for a leakguard serve address",
            "écrire le manifeste du complément Outlook pour l'adresse d'un leakguard serve",
        ),
        description=t(
            "Write the Outlook add-in's manifest with the service address, the add-in id, "
            "the send mode and the service's token filled in.",
            "Écrit le manifeste du complément Outlook avec l'adresse du service, "
            "l'identifiant du complément, le mode d'envoi et le jeton du service.",
        ),
        epilog=exit_codes(
            t("the manifest was written", "le manifeste a été écrit"),
            t("(not used)", "(non utilisé)"),
        ),
    )
    p.add_argument(
        "--url",
        required=True,
        metavar="https://HOST:PORT",
        help=t("address of leakguard serve", "adresse de leakguard serve"),
    )
    p.add_argument(
        "--send-mode",
        choices=SEND_MODES,
        default="SoftBlock",
        help=t(
            "what Outlook does when the add-in cannot run (default: SoftBlock)",
            "ce que fait Outlook quand le complément ne peut pas s'exécuter "
            "(par défaut : SoftBlock)",
        ),
    )
    p.add_argument(
        "--id",
        metavar="UUID",
        help=t(
            "add-in id (default: derived from --url, so it stays the same)",
            "identifiant du complément (par défaut : tiré de --url, donc stable)",
        ),
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help=t(
            f"file holding the service's token (default: the {TOKEN_VARIABLE} variable)",
            f"fichier du jeton du service (par défaut : la variable {TOKEN_VARIABLE})",
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help=t("write there instead of standard output", "écrire là plutôt que sur la sortie"),
    )
    p.set_defaults(run=run)


def _fail(en: str, fr: str) -> int:
    say(t(en, fr))
    return EXIT_ERROR


def manifest(template: str, *, url: str, addin_id: str, send_mode: str, token: str) -> str:
    """The template with the service address, the id, the send mode and the token."""
    base = url.rstrip("/")
    text = template
    for script in _SCRIPTS:
        text = text.replace(TEMPLATE_BASE + script, f"{base}{script}?token={quote(token, safe='')}")
    text = text.replace(TEMPLATE_BASE, base)
    text = re.sub(r"<Id>[^<]*</Id>", f"<Id>{addin_id}</Id>", text, count=1)
    return re.sub(r'SendMode="[A-Za-z]+"', f'SendMode="{send_mode}"', text)


def run(args: argparse.Namespace, out: TextIO) -> int:
    import defusedxml.ElementTree as ET

    from leakguard.serve import addin_dir

    parts = urlsplit(args.url)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        return _fail(
            "--url must be an https:// address (Outlook loads add-ins over HTTPS only)",
            "--url doit être une adresse https:// (Outlook ne charge les compléments qu'en HTTPS)",
        )
    try:
        addin_id = (
            str(uuid.UUID(args.id)) if args.id else str(uuid.uuid5(uuid.NAMESPACE_URL, args.url))
        )
    except ValueError:
        return _fail("--id must be a UUID", "--id doit être un UUID")
    folder = addin_dir()
    if folder is None:
        return _fail(
            "the add-in's files are missing from this installation",
            "les fichiers du complément manquent dans cette installation",
        )
    token = read_token(args)
    text = manifest(
        (folder / "manifest.xml").read_text(encoding="utf-8"),
        url=args.url,
        addin_id=addin_id,
        send_mode=args.send_mode,
        token=token,
    )
    ET.fromstring(text.encode("utf-8"))  # the result must still be well-formed XML
    if args.output:
        write_file(args.output, text.encode("utf-8"), what=("the manifest", "le manifeste"))
    else:
        out.write(text)
    return EXIT_OK
