"""What a worker needs besides its shard (the guard, the fingerprint key), and how it
reaches each worker once: handed to forked processes as they start, or sent as a
picklable recipe that the worker builds into a guard when it joins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from leakguard.core import Fingerprinter, Lang

if TYPE_CHECKING:
    from leakguard.audit import AuditLog
    from leakguard.correspondents import Correspondents
    from leakguard.extract._types import Limits
    from leakguard.guard import Guard
    from leakguard.recipients import Directory, HealthDirectory
    from leakguard.register import PatientRegister

__all__ = ["Context", "ContextRef", "Recipe", "install", "lookup", "uninstall"]


@dataclass(frozen=True, slots=True)
class Context:
    """The guard that checks messages (``check``, ``learn``) and the fingerprinter that
    names identifier values; one key for all workers, so their fingerprints agree."""

    fingerprinter: Fingerprinter
    guard: Guard | None = None

    def recipe(self) -> Recipe:
        """This context as plain values that pickle, for workers that are not forked."""
        guard = None if self.guard is None else _GuardRecipe.of(self.guard)
        return Recipe(self.fingerprinter, guard)


@dataclass(frozen=True, slots=True)
class Recipe:
    """A :class:`Context` to rebuild in another process or on another machine."""

    fingerprinter: Fingerprinter
    guard: _GuardRecipe | None = None

    def build(self) -> Context:
        guard = None if self.guard is None else self.guard.build(self.fingerprinter)
        return Context(self.fingerprinter, guard)


@dataclass(frozen=True, slots=True)
class _GuardRecipe:
    """What ``Guard.check`` reads: the policy, colleagues, patient register, limits,
    correspondents, MSSanté directory and audit log. Certificates are left behind:
    checking does not use them, and their folder may not exist where the worker runs."""

    policy: dict[str, Any]
    directory: Directory
    register: PatientRegister | None
    limits: Limits
    correspondents: Correspondents | None
    health_directory: HealthDirectory | None
    audit: AuditLog
    lang: Lang

    @classmethod
    def of(cls, guard: Guard) -> _GuardRecipe:
        policy = replace(guard.policy, certificates_path=None)
        # The action tables are read-only views, which pickle cannot copy.
        values = {f.name: getattr(policy, f.name) for f in fields(policy)}
        values = {k: dict(v) if isinstance(v, MappingProxyType) else v for k, v in values.items()}
        return cls(
            values,
            guard.directory,
            guard.register,
            guard.limits,
            guard.correspondents,
            guard.health_directory,
            guard.audit,
            guard.lang,
        )

    def build(self, fingerprinter: Fingerprinter) -> Guard:
        from leakguard.guard import Guard
        from leakguard.policy import Policy

        values: dict[str, Any] = {
            name: MappingProxyType(v) if isinstance(v, dict) else v
            for name, v in self.policy.items()
        }
        policy = Policy(**values)
        return Guard(
            policy,
            directory=self.directory,
            register=self.register,
            fingerprinter=fingerprinter,
            limits=self.limits,
            audit=self.audit,
            correspondents=self.correspondents,
            health_directory=self.health_directory,
            lang=self.lang,
        )


@dataclass(frozen=True, slots=True)
class ContextRef:
    """How a task finds its context in the worker: by ``token``, installed when the
    worker started; ``recipe`` travels along only with executors that cannot install
    one (it is then built once per worker process and kept)."""

    token: str
    recipe: Recipe | None = None


# The contexts installed in this process, by token: one per run (a worker may serve
# several runs of a long-lived cluster, each with its own guard).
_INSTALLED: dict[str, Context] = {}


def new_token() -> str:
    return "leakguard-" + os.urandom(8).hex()


def install(token: str, context: Context | Recipe) -> None:
    """Make ``context`` (built first when a recipe) the one of ``token`` in this process."""
    _INSTALLED[token] = context.build() if isinstance(context, Recipe) else context


def uninstall(token: str) -> None:
    _INSTALLED.pop(token, None)


def lookup(ref: ContextRef) -> Context:
    found = _INSTALLED.get(ref.token)
    if found is None:
        if ref.recipe is None:
            raise RuntimeError("this worker has no guard for the run")
        install(ref.token, ref.recipe)
        found = _INSTALLED[ref.token]
    return found
