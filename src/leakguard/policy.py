"""Policy: which action each finding leads to, read from TOML or the embedded default.

A ``Policy`` is a frozen value passed to the guard; nothing here is global. A wrong key
or value fails at load time with the file, the key and what is allowed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from leakguard._files import read_limited, reason_fr
from leakguard._recipients.typo_domains import is_public_mailbox
from leakguard.core import IDENTIFIER_KINDS, KINDS, Action
from leakguard.errors import PolicyError

__all__ = ["DEFAULT_POLICY_TOML", "Policy", "UnreadAnswer"]

DEFAULT_POLICY_TOML = """\
# leakguard's embedded default policy. Copy this file and change what you need:
#   leakguard check --policy my-policy.toml out/*.eml

[organisation]
# Your own mail domains: recipients there are colleagues' mailboxes. Left empty, the
# sender's (From) domain counts as internal, unless it is a public mailbox provider
# (gmail.com, orange.fr...): then no recipient is internal.
internal_domains = []
# Secure health messaging: sensitive content may go there unencrypted.
secure_domains = ["*.mssante.fr", "mssante.fr"]

[directory]
# CSV (email, name), plain list, vCard or LDIF of the colleagues allowed to receive
# patient data. Relative paths are read from the policy file's folder.
# path = "colleagues.csv"
lookalike_distance = 1
# Edit distance 2 for addresses at least this long (0 = never).
long_address_length = 0
# Pairs of (recipient, colleague) that are known to be different people.
acknowledged = []

[register]
# Patient register (CSV with email, name, nir) for the other-person check.
# path = "patients.csv"

[recipients]
# Correspondents learned from the Sent folder with "leakguard learn" (none by default).
# correspondents = "correspondents.db"
# The national MSSanté directory (the ANS extraction, .zip or .txt; none by default),
# kept fresh by "leakguard health-directory fetch -o FILE".
# health_directory = "mssante.zip"
# dormant_recipient: the last message to the address is older than this many months.
dormant_months = 12
# Quiet start: no first_time_recipient or unusual_recipient until this many days after
# the oldest learned message.
quiet_days = 30
# Addresses written to at least this often are checked for look-alikes too.
frequent_messages = 3
# unusual_recipient: the other recipients were written to at least this often without it.
usual_group_messages = 3

[thresholds]
# A finding "many_people" from this many distinct people going outside.
many_people = 2
# From this many distinct people the message is a bulk export and is blocked.
bulk_export = 50
# Warn when this many outside addresses are visible to each other in To/Cc.
bulk_visible_recipients = 10

[actions]
# What each finding kind leads to: allow, warn, encrypt or block.
nir = "allow"
rib = "allow"
iban = "allow"
be_niss = "allow"
qc_nam = "allow"
ca_sin = "allow"
health_data = "allow"
unencrypted_sensitive = "encrypt"
many_people = "encrypt"
other_person_data = "block"
lookalike_recipient = "warn"
lookalike_domain = "warn"
display_name_mismatch = "warn"
bulk_visible_recipients = "warn"
unscannable_attachment = "warn"
# A recipient header that cannot be read cleanly, or no readable recipient at all.
unreadable_recipients = "warn"
first_time_recipient = "allow"
dormant_recipient = "warn"
unusual_recipient = "warn"
# With the national MSSanté directory: the professional a non-secure address names has
# an MSSanté mailbox. Advice that comes with unencrypted_sensitive, which already asks
# for encryption: "allow" leaves the decision to it.
secure_address_available = "allow"
# An address at an MSSanté domain that is not in the national directory.
unknown_secure_address = "warn"
# An attachment that is itself encrypted cannot be read, but it is protected.
unscannable_encrypted = "allow"
# A part that claims to be encrypted but is readable (it is read as clear content).
mislabelled_attachment = "warn"

[actions.with_sensitive]
# Used instead of [actions] when the message carries sensitive content.
lookalike_recipient = "block"
lookalike_domain = "block"
display_name_mismatch = "block"
unreadable_recipients = "block"
first_time_recipient = "warn"
# Sensitive content dressed as encrypted: someone, or some program, hid it.
mislabelled_attachment = "block"

[protection]
# Folder of recipients' certificates (<address>.pem or .der) for S/MIME.
# certificates = "certificates/"
# What counts as sensitive content.
sensitive_kinds = ["nir", "rib", "iban", "be_niss", "qc_nam", "ca_sin", "health_data"]
# The Subject an S/MIME message shows outside its encryption; the real one travels
# inside. Keep it neutral: it is readable by every server on the way.
outer_subject = "Message chiffré / Encrypted message"

[gateway]
# Where no person decides (leakguard milter and relay), a message with content the guard
# could not read is never accepted. What the sending server is told: "refuse" (550: the
# message goes back to its sender now, with the reason) or "defer" (451: the server keeps
# it and tries again, for up to several days).
# A part too large, damaged, in a format that cannot be read, archives nested too deep,
# a picture without OCR: the same message will not read better later.
unread = "refuse"
# The time budget ran out, or the gateway was full: the message may pass a little later.
unread_timeout = "defer"
"""

DEFAULT_OUTER_SUBJECT = "Message chiffré / Encrypted message"

_ACTION_KEYS = KINDS | {"unscannable_encrypted"}
# A policy file is a page of settings: past this it is no policy.
_MAX_POLICY_BYTES = 1024 * 1024

_SCHEMA: Mapping[str, Mapping[str, str]] = {
    "organisation": {"internal_domains": "list of domains", "secure_domains": "list of domains"},
    "directory": {
        "path": "a file path",
        "lookalike_distance": "1 or 2",
        "long_address_length": "a whole number ≥ 0",
        "acknowledged": "list of [recipient, colleague] pairs",
    },
    "register": {"path": "a file path"},
    "recipients": {
        "correspondents": "a file path",
        "health_directory": "a file path",
        "dormant_months": "a whole number ≥ 1",
        "quiet_days": "a whole number ≥ 0",
        "frequent_messages": "a whole number ≥ 1",
        "usual_group_messages": "a whole number ≥ 1",
    },
    "thresholds": {
        "many_people": "a whole number ≥ 2",
        "bulk_export": "a whole number ≥ 2",
        "bulk_visible_recipients": "a whole number ≥ 1",
    },
    "actions": dict.fromkeys(sorted(_ACTION_KEYS), "allow, warn, encrypt or block")
    | {"with_sensitive": "a table of kind = action"},
    "protection": {
        "certificates": "a folder path",
        "sensitive_kinds": "list of finding kinds",
        "outer_subject": "one line of text, at most 200 characters",
    },
    "gateway": {"unread": "defer or refuse", "unread_timeout": "defer or refuse"},
}

#: How the gateway answers for content it could not read.
UnreadAnswer = Literal["defer", "refuse"]


def _frozen(mapping: Mapping[str, Action]) -> Mapping[str, Action]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True)
class Policy:
    """Every setting the guard applies. Build with :meth:`load`, :meth:`default` or
    :meth:`from_toml`; change with :meth:`replace`."""

    internal_domains: tuple[str, ...] = ()
    secure_domains: tuple[str, ...] = ("*.mssante.fr", "mssante.fr")
    directory_path: Path | None = None
    lookalike_distance: int = 1
    long_address_length: int = 0
    acknowledged: tuple[tuple[str, str], ...] = ()
    register_path: Path | None = None
    many_people_threshold: int = 2
    bulk_export_threshold: int = 50
    bulk_visible_threshold: int = 10
    actions: Mapping[str, Action] = field(default_factory=lambda: _frozen({}))
    actions_with_sensitive: Mapping[str, Action] = field(default_factory=lambda: _frozen({}))
    certificates_path: Path | None = None
    sensitive_kinds: frozenset[str] = IDENTIFIER_KINDS | {"health_data"}
    outer_subject: str = DEFAULT_OUTER_SUBJECT
    source: str = "<default>"
    correspondents_path: Path | None = None
    health_directory_path: Path | None = None
    dormant_months: int = 12
    quiet_days: int = 30
    frequent_messages: int = 3
    usual_group_messages: int = 3
    unread: UnreadAnswer = "refuse"
    unread_timeout: UnreadAnswer = "defer"

    # ------------------------------------------------------------------ building

    @classmethod
    def default(cls) -> Policy:
        """The embedded default policy."""
        return cls.from_toml(DEFAULT_POLICY_TOML, source="<default>")

    @classmethod
    def load(cls, path: str | os.PathLike[str], /) -> Policy:
        """Read a policy file; settings it leaves out keep their default value."""
        p = Path(path)
        try:
            text = read_limited(p, _MAX_POLICY_BYTES).decode("utf-8")
        except OSError as exc:
            raise PolicyError(
                f"{p}: cannot read the policy file ({exc.strerror or exc}).",
                fr=f"{p} : impossible de lire le fichier de politique ({_os_reason_fr(exc)}).",
            ) from None
        except UnicodeDecodeError:
            raise PolicyError(
                f"{p}: the policy file is not UTF-8 text.",
                fr=f"{p} : le fichier de politique n'est pas du texte UTF-8.",
            ) from None
        return cls.from_toml(text, source=str(p), base=p.parent)

    @classmethod
    def from_toml(
        cls, text: str, /, *, source: str = "<string>", base: Path | None = None
    ) -> Policy:
        """Parse policy TOML on top of the embedded default."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(
                f"{source}: not valid TOML ({exc}).",
                fr=f"{source} : ce n'est pas du TOML valide ({_toml_reason_fr(exc)}).",
            ) from None
        if source != "<default>":
            defaults = tomllib.loads(DEFAULT_POLICY_TOML)
            data = _merge(defaults, data)
        return _build(data, source=source, base=base)

    def replace(self, **changes: Any) -> Policy:
        """A copy with some settings changed (the original stays as it is)."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ queries

    def internal_for(self, sender: str | None = None, /) -> tuple[str, ...]:
        """The organisation's domains for a message from ``sender`` (address or domain).

        The configured ``internal_domains`` when there are any. Otherwise the sender's
        own domain, unless it is a public mailbox provider (anyone has a mailbox at
        ``gmail.com``): then none.
        """
        if self.internal_domains:
            return self.internal_domains
        if not sender:
            return ()
        domain = sender.rpartition("@")[2].strip().lower().rstrip(".")
        if "." not in domain or is_public_mailbox(domain):
            return ()
        return (domain,)

    def for_sender(self, sender: str | None, /) -> Policy:
        """This policy for a message from ``sender``: with no ``internal_domains`` set,
        the sender's domain stands for them (see :meth:`internal_for`)."""
        if self.internal_domains:
            return self
        domains = self.internal_for(sender)
        return self.replace(internal_domains=domains) if domains else self

    def is_internal(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return any(d == x or d.endswith("." + x) for x in self.internal_domains)

    def is_secure(self, domain: str) -> bool:
        d = domain.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(d, pat) for pat in self.secure_domains)

    def action_for(self, kind: str, *, sensitive: bool, detail: str | None = None) -> Action:
        """The action a finding of ``kind`` leads to."""
        if kind == "unscannable_attachment" and detail == "encrypted":
            kind = "unscannable_encrypted"
        if sensitive and kind in self.actions_with_sensitive:
            return self.actions_with_sensitive[kind]
        return self.actions.get(kind, Action.WARN)

    def unread_answer(self, reasons: Iterable[str | None], /) -> UnreadAnswer:
        """What the gateway answers for a message with content not read for ``reasons``
        (``Problem`` reasons: ``too_large``, ``timeout``…): ``unread_timeout`` when time
        was the only reason, ``unread`` as soon as another one is there."""
        found = set(reasons)
        return self.unread_timeout if found <= {"timeout"} and found else self.unread

    def __repr__(self) -> str:
        return f"Policy(source={self.source!r})"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


# French for the descriptions of allowed values used in ``_SCHEMA`` and by ``_err`` callers.
_ALLOWED_FR: Mapping[str, str] = {
    "list of domains": "une liste de domaines",
    "a file path": "un chemin de fichier",
    "a folder path": "un chemin de dossier",
    "1 or 2": "1 ou 2",
    "a whole number ≥ 0": "un nombre entier ≥ 0",
    "a whole number ≥ 1": "un nombre entier ≥ 1",
    "a whole number ≥ 2": "un nombre entier ≥ 2",
    "list of [recipient, colleague] pairs": "une liste de paires [destinataire, collègue]",
    "allow, warn, encrypt or block": "allow, warn, encrypt ou block",
    "a table of kind = action": "une table type = action",
    "list of finding kinds": "une liste de types de constat",
    "defer or refuse": "defer ou refuse",
}

_ALLOWED_PREFIX_FR = (
    ("finding kinds ", "les types de constat "),
    ("sections ", "les sections "),
    ("a table [", "une table ["),
)


def _allowed_fr(allowed: str) -> str:
    if allowed in _ALLOWED_FR:
        return _ALLOWED_FR[allowed]
    for en, fr in _ALLOWED_PREFIX_FR:
        if allowed.startswith(en):
            return fr + allowed[len(en) :]
    return allowed


def _os_reason_fr(exc: OSError) -> str:
    own = reason_fr(exc)
    if own is not None:
        return own
    if isinstance(exc, FileNotFoundError):
        return "fichier introuvable"
    if isinstance(exc, IsADirectoryError):
        return "c'est un dossier, pas un fichier"
    if isinstance(exc, PermissionError):
        return "accès refusé"
    return "erreur de lecture"


def _toml_reason_fr(exc: tomllib.TOMLDecodeError) -> str:
    # tomllib's text is English; keep only its position "(at line L, column C)".
    found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    if found is None:
        return "erreur de syntaxe"
    return f"erreur de syntaxe à la ligne {found[1]}, colonne {found[2]}"


def _err(source: str, key: str, allowed: str, got: object = None) -> PolicyError:
    shown = "" if got is None else f" (got {got!r})"
    shown_fr = "" if got is None else f" (valeur reçue : {got!r})"
    return PolicyError(
        f"{source}: setting '{key}' is not valid{shown}; allowed: {allowed}.",
        fr=f"{source} : le réglage '{key}' n'est pas valide{shown_fr} ; valeurs permises : "
        f"{_allowed_fr(allowed)}.",
    )


def _check_keys(data: Mapping[str, Any], source: str) -> None:
    for section, value in data.items():
        if section not in _SCHEMA:
            raise _err(source, section, "sections " + ", ".join(sorted(_SCHEMA)))
        if not isinstance(value, dict):
            raise _err(source, section, "a table [" + section + "]", value)
        for key in value:
            if key not in _SCHEMA[section]:
                raise _err(source, f"{section}.{key}", ", ".join(sorted(_SCHEMA[section])))


def _str_list(data: Mapping[str, Any], section: str, key: str, source: str) -> tuple[str, ...]:
    value = data.get(section, {}).get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise _err(source, f"{section}.{key}", _SCHEMA[section][key], value)
    return tuple(x.strip().lower() for x in value)


def _int(data: Mapping[str, Any], section: str, key: str, source: str, low: int) -> int:
    value = data.get(section, {}).get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _err(source, f"{section}.{key}", _SCHEMA[section][key], value)
    return value


def _path(
    data: Mapping[str, Any], section: str, key: str, source: str, base: Path | None
) -> Path | None:
    value = data.get(section, {}).get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _err(source, f"{section}.{key}", _SCHEMA[section][key], value)
    p = Path(value).expanduser()
    if base is not None and not p.is_absolute():
        p = base / p
    return p


def _outer_subject(data: Mapping[str, Any], source: str) -> str:
    value = data.get("protection", {}).get("outer_subject", DEFAULT_OUTER_SUBJECT)
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > 200
        or any(not ch.isprintable() for ch in value)
    ):
        raise _err(
            source, "protection.outer_subject", _SCHEMA["protection"]["outer_subject"], value
        )
    from leakguard.detectors import HEALTH, as_seen, find_identifiers

    seen = as_seen(value)
    if find_identifiers(seen) or next(HEALTH.find(seen), None) is not None:
        # Shown in clear on every message: it must not say what the messages are about.
        raise _err(
            source,
            "protection.outer_subject",
            "a text without identifier or health term",
        )
    return value.strip()


def _actions(table: Mapping[str, Any], prefix: str, source: str) -> dict[str, Action]:
    out: dict[str, Action] = {}
    for kind, value in table.items():
        if kind == "with_sensitive" and prefix == "actions":
            continue
        if kind not in _ACTION_KEYS:
            raise _err(
                source, f"{prefix}.{kind}", "finding kinds " + ", ".join(sorted(_ACTION_KEYS))
            )
        if not isinstance(value, str):
            raise _err(source, f"{prefix}.{kind}", "allow, warn, encrypt or block", value)
        try:
            out[kind] = Action.parse(value)
        except ValueError:
            raise _err(source, f"{prefix}.{kind}", "allow, warn, encrypt or block", value) from None
    return out


def _build(data: dict[str, Any], *, source: str, base: Path | None) -> Policy:
    _check_keys(data, source)
    distance = _int(data, "directory", "lookalike_distance", source, 1)
    if distance > 2:
        raise _err(source, "directory.lookalike_distance", "1 or 2", distance)
    ack_raw = data["directory"].get("acknowledged", [])
    if not isinstance(ack_raw, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in ack_raw
    ):
        raise _err(source, "directory.acknowledged", _SCHEMA["directory"]["acknowledged"], ack_raw)
    actions_table = data.get("actions", {})
    with_sensitive = actions_table.get("with_sensitive", {})
    if not isinstance(with_sensitive, dict):
        raise _err(source, "actions.with_sensitive", "a table of kind = action", with_sensitive)
    sensitive = _str_list(data, "protection", "sensitive_kinds", source)
    unknown = [k for k in sensitive if k not in KINDS]
    if unknown:
        raise _err(
            source,
            "protection.sensitive_kinds",
            "finding kinds " + ", ".join(sorted(KINDS)),
            unknown,
        )
    many = _int(data, "thresholds", "many_people", source, 2)
    bulk_export = _int(data, "thresholds", "bulk_export", source, 2)
    return Policy(
        internal_domains=_str_list(data, "organisation", "internal_domains", source),
        secure_domains=_str_list(data, "organisation", "secure_domains", source),
        directory_path=_path(data, "directory", "path", source, base),
        lookalike_distance=distance,
        long_address_length=_int(data, "directory", "long_address_length", source, 0),
        acknowledged=tuple((a.strip().lower(), b.strip().lower()) for a, b in ack_raw),
        register_path=_path(data, "register", "path", source, base),
        many_people_threshold=many,
        bulk_export_threshold=bulk_export,
        bulk_visible_threshold=_int(data, "thresholds", "bulk_visible_recipients", source, 1),
        actions=_frozen(_actions(actions_table, "actions", source)),
        actions_with_sensitive=_frozen(_actions(with_sensitive, "actions.with_sensitive", source)),
        certificates_path=_path(data, "protection", "certificates", source, base),
        sensitive_kinds=frozenset(sensitive),
        outer_subject=_outer_subject(data, source),
        source=source,
        correspondents_path=_path(data, "recipients", "correspondents", source, base),
        health_directory_path=_path(data, "recipients", "health_directory", source, base),
        dormant_months=_int(data, "recipients", "dormant_months", source, 1),
        quiet_days=_int(data, "recipients", "quiet_days", source, 0),
        frequent_messages=_int(data, "recipients", "frequent_messages", source, 1),
        usual_group_messages=_int(data, "recipients", "usual_group_messages", source, 1),
        unread=_unread(data, "unread", source),
        unread_timeout=_unread(data, "unread_timeout", source),
    )


def _unread(data: Mapping[str, Any], key: str, source: str) -> UnreadAnswer:
    value = data.get("gateway", {}).get(key)
    if value == "defer":
        return "defer"
    if value == "refuse":
        return "refuse"
    raise _err(source, f"gateway.{key}", "defer or refuse", value)
