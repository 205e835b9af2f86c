"""The account-type registry: one declaration per type, read by everything else.

An :class:`AccountTypeSpec` says what an account type *is*: its value and label, its place in
the run order, the types it depends on (same person, completed first), the settings it needs,
the connector that creates it and what the engine must prepare for it. Intake validation,
the claim order and dependency check, stats, metrics, the dashboard, ``/healthz``, the
sandbox's fault switches and the admin filters iterate :data:`registry` instead of naming
systems. A spec whose connector cannot be imported, or whose dependencies are not
registered before it, is reported by ``manage.py check`` (and so at start-up of every
command and server), naming the type — never as a task's ``KeyError``.

Adding a type is one connector module plus one entry in :data:`BUILT_IN` (see
docs/extending.md). Tests add one for a while with :meth:`AccountTypeRegistry.temporarily`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core import checks
from django.db import models
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _
from django.utils.translation import override

from accountsync.messages import translatable


@dataclass(frozen=True)
class AccountTypeSpec:
    value: str  # stored in tasks' account_type and sent in systemList; never translated
    # What the console and the admin show: a brand name as it is (IDaaS), or a text marked for
    # translation (gettext_lazy), rendered in the reader's language.
    label: str | Promise
    order: int  # place in a run: lower runs first (stored as the task's ``sequence``)
    connector: str  # dotted path of a zero-argument factory returning a Connector
    depends_on: tuple[str, ...] = ()  # types of the same person that must complete first
    settings: tuple[str, ...] = ()  # settings that must be non-empty for the type to run
    needs_department: bool = False  # the task waits for a department mapping
    description: str = ""

    def label_param(self) -> Any:
        """The label as a stored message's parameter: a translatable label is stored as its
        source text and rendered in each reader's language, never frozen in the writer's."""
        if isinstance(self.label, Promise):
            with override(None):  # no language: the source text itself
                return translatable(str(self.label))
        return self.label


class AccountType(models.TextChoices):
    """Names for the built-in types (code reads the registry to list them)."""

    IDAAS = "idaas", "IDaaS"
    WELINK = "welink", "WeLink"
    EMAIL = "email", _("Email")


BUILT_IN: tuple[AccountTypeSpec, ...] = (
    AccountTypeSpec(
        value=AccountType.IDAAS,
        label="IDaaS",
        order=0,
        connector="account_creation.connectors.idaas.IdaasConnector",
        settings=("IDAAS_ACCOUNT", "IDAAS_SECRET", "IDAAS_ENTERPRISE_ID", "IDAAS_BASE_URL"),
        needs_department=True,
        description="Directory (AD) account: username, OU, mobile, English name.",
    ),
    AccountTypeSpec(
        value=AccountType.WELINK,
        label="WeLink",
        order=1,
        connector="account_creation.connectors.welink.WelinkConnector",
        depends_on=(AccountType.IDAAS,),
        settings=("WELINK_CLIENT_ID", "WELINK_CLIENT_SECRET", "WELINK_BASE_URL"),
        needs_department=True,
        description="Collaboration (address book) user keyed by the employee number.",
    ),
    AccountTypeSpec(
        value=AccountType.EMAIL,
        label=_("Email"),
        order=2,
        connector="account_creation.connectors.exchange.ExchangeConnector",
        depends_on=(AccountType.IDAAS,),
        settings=("EMAIL_AUTH_TOKEN", "EMAIL_BASE_URL", "EMAIL_DOMAIN"),
        description="Exchange mailbox enabled for the AD account IDaaS created.",
    ),
)


class AccountTypeRegistry:
    """The registered account types, in run order (then by value)."""

    def __init__(self, specs: Sequence[AccountTypeSpec] = ()):
        self._lock = threading.Lock()
        self._specs: dict[str, AccountTypeSpec] = {}
        self._ordered: tuple[AccountTypeSpec, ...] = ()
        for spec in specs:
            self.register(spec)

    def register(self, spec: AccountTypeSpec) -> None:
        with self._lock:
            if spec.value in self._specs:
                raise ValueError(f"account type {spec.value!r} is registered already")
            self._specs[spec.value] = spec
            self._ordered = tuple(sorted(self._specs.values(), key=lambda s: (s.order, s.value)))

    def unregister(self, value: str) -> None:
        with self._lock:
            self._specs.pop(value, None)
            self._ordered = tuple(sorted(self._specs.values(), key=lambda s: (s.order, s.value)))

    @contextmanager
    def temporarily(self, *specs: AccountTypeSpec) -> Iterator[None]:
        """Register ``specs`` for the duration of a ``with`` block (tests, worked examples)."""
        for spec in specs:
            self.register(spec)
        try:
            yield
        finally:
            for spec in specs:
                self.unregister(spec.value)

    def __iter__(self) -> Iterator[AccountTypeSpec]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    def __contains__(self, value: object) -> bool:
        return value in self._specs

    def get(self, value: str) -> AccountTypeSpec:
        return self._specs[value]

    def values(self) -> list[str]:
        return [spec.value for spec in self._ordered]

    def labels(self) -> dict[str, str | Promise]:
        return {spec.value: spec.label for spec in self._ordered}

    def choices(self) -> list[tuple[str, str | Promise]]:
        return [(spec.value, spec.label) for spec in self._ordered]

    def order(self, value: str) -> int:
        return self._specs[value].order

    def dependencies(self, value: str) -> tuple[str, ...]:
        spec = self._specs.get(value)
        return spec.depends_on if spec else ()

    def dependents_of(self, value: str) -> list[str]:
        return [spec.value for spec in self._ordered if value in spec.depends_on]

    def with_dependencies(self) -> list[AccountTypeSpec]:
        return [spec for spec in self._ordered if spec.depends_on]


registry = AccountTypeRegistry(BUILT_IN)


def account_type_choices() -> list[tuple[str, str | Promise]]:
    """Callable choices for model fields: follows the registry without a migration per type."""
    return registry.choices()


class _LiveChoices(Sequence[tuple[str, str | Promise]]):
    """``ACCOUNT_TYPE_CHOICES`` as the spec's extension guide names it, read from the registry."""

    def __getitem__(self, index: Any) -> Any:
        return registry.choices()[index]

    def __len__(self) -> int:
        return len(registry)

    def __iter__(self) -> Iterator[tuple[str, str | Promise]]:
        return iter(registry.choices())

    def __repr__(self) -> str:
        return f"ACCOUNT_TYPE_CHOICES({registry.choices()!r})"


# The spec's extension point, kept by name: every registered type, in run order.
ACCOUNT_TYPE_CHOICES: Sequence[tuple[str, str | Promise]] = _LiveChoices()


# --- system checks ---------------------------------------------------------------------------


def check_registry(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``manage.py check``: every type's connector imports, its dependencies run before it."""
    from django.conf import settings

    errors: list[checks.CheckMessage] = []
    for spec in registry:
        try:
            factory = import_string(spec.connector)
        except ImportError as exc:
            errors.append(
                checks.Error(
                    f"Account type {spec.value!r} has no connector: cannot import {spec.connector!r} ({exc}).",
                    hint="Point its AccountTypeSpec.connector at the connector class (docs/extending.md).",
                    id="account_creation.E001",
                )
            )
        else:
            if not callable(factory):
                errors.append(
                    checks.Error(
                        f"Account type {spec.value!r}: {spec.connector!r} is not callable.",
                        hint="AccountTypeSpec.connector names a class or a zero-argument factory.",
                        id="account_creation.E002",
                    )
                )
        for dependency in spec.depends_on:
            if dependency not in registry:
                errors.append(
                    checks.Error(
                        f"Account type {spec.value!r} depends on {dependency!r}, which is not registered.",
                        hint="Register the dependency, or remove it from depends_on.",
                        id="account_creation.E003",
                    )
                )
            elif registry.order(dependency) >= spec.order:
                errors.append(
                    checks.Error(
                        f"Account type {spec.value!r} (order {spec.order}) depends on {dependency!r} "
                        f"(order {registry.order(dependency)}), which does not run before it.",
                        hint="Give the dependency a lower order.",
                        id="account_creation.E004",
                    )
                )
        for name in spec.settings:
            if not hasattr(settings, name):
                errors.append(
                    checks.Error(
                        f"Account type {spec.value!r} needs the setting {name}, which settings.py does not define.",
                        hint=f"Read {name} from the environment in accountsync/settings.py.",
                        id="account_creation.E005",
                    )
                )
    return errors
