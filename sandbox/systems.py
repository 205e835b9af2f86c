"""The systems the sandbox simulates: one :class:`SimulatedSystem` declaration each.

A declaration is everything the HTTP layer and the command know about one system: the account
type it stands in for (``name``, a value of ``account_creation.account_types.registry``), the
header its clients send their token in, how it answers a rate-limited request, an injected
5xx and a body that is not JSON, the credentials it accepts, and its routes (path -> a
:class:`~sandbox.world.World` method). :mod:`sandbox.server`, ``run_sandbox`` and the test
fixtures iterate :data:`simulated_systems` and name no system; what happens behind a route
(accounts, validation, tokens) is the world's business.

Simulating another account type is one more declaration in :data:`BUILT_IN` (or in a module
of its own whose declaration is listed there) plus the World methods its routes call. Tests
add one for a while with :meth:`SimulatedSystems.temporarily`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from account_creation.account_types import registry

if TYPE_CHECKING:
    from sandbox.world import World


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict[str, Any]


# (world, the path's named groups, the token from the system's auth header, the JSON body)
RouteCall = Callable[["World", dict[str, str], str, Any], Reply]


@dataclass(frozen=True)
class SimulatedRoute:
    """One POST path of a system. Only data calls (look-ups, creates) get injected errors
    and timeouts; token fetches get latency and the rate limit only."""

    pattern: re.Pattern[str]
    call: RouteCall
    data_call: bool = True


def exact(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(path) + "$")


@dataclass(frozen=True)
class CredentialField:
    """One value a simulated system accepts.

    ``name`` is the attribute of :class:`Credentials`, the ``start_sandbox`` keyword and, in
    ``run_sandbox``, the option ``--<name>`` and the variable ``SANDBOX_<NAME>``.
    """

    name: str
    setting: str  # the app setting AccountSync sends it from (the sandbox accepts its value)
    default: str  # the demo value, safe to print
    secret: bool = False

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def variable(self) -> str:
        return "SANDBOX_" + self.name.upper()


def _generic_error(status: int) -> Reply:
    return Reply(status, {"code": str(status), "message": "internal error (sandbox fault)"})


@dataclass(frozen=True, eq=False)
class SimulatedSystem:
    name: str  # the account type's value: fault switches, counters and tokens use it
    label: str  # the product imitated, for humans
    auth_header: str  # where clients send the token; its stripped value reaches the route
    rate_limited_reply: Reply
    invalid_json_reply: Reply
    routes: tuple[SimulatedRoute, ...]
    credentials: tuple[CredentialField, ...] = ()
    error_reply: Callable[[int], Reply] = _generic_error  # an injected 500/503
    # Settings the sandbox accepts with any value: (name, what the banner suggests).
    any_value_settings: tuple[tuple[str, str], ...] = ()


IDAAS = SimulatedSystem(
    name="idaas",
    label="IDaaS",
    auth_header="Authorization",
    rate_limited_reply=Reply(429, {"code": "429", "message": "too many requests"}),
    invalid_json_reply=Reply(400, {"code": "400", "message": "the body is not valid JSON"}),
    routes=(
        SimulatedRoute(exact("/api/iam/auth/enterprise-token"), lambda w, m, a, b: w.idaas_token(b), data_call=False),
        SimulatedRoute(
            re.compile(r"^/api/idaas/idm-openapi/enterprise/(?P<enterprise_id>[^/]+)/user/onboarding$"),
            lambda w, m, a, b: w.idaas_onboard(m["enterprise_id"], a, b),
        ),
    ),
    credentials=(
        CredentialField("idaas_account", "IDAAS_ACCOUNT", "sandbox-idaas-account"),
        CredentialField("idaas_secret", "IDAAS_SECRET", "sandbox-idaas-secret", secret=True),
    ),
    any_value_settings=(("IDAAS_ENTERPRISE_ID", "sandbox-enterprise"),),
)

WELINK = SimulatedSystem(
    name="welink",
    label="WeLink",
    auth_header="x-wlk-Authorization",
    # WeLink signals its limit in the body, with HTTP 200.
    rate_limited_reply=Reply(200, {"code": "48503", "message": "api call frequency exceeds the limit, wait and retry"}),
    invalid_json_reply=Reply(200, {"code": "47004", "message": "the body is not valid JSON"}),
    routes=(
        SimulatedRoute(exact("/api/auth/v2/tickets"), lambda w, m, a, b: w.welink_ticket(b), data_call=False),
        SimulatedRoute(exact("/api/contact/v2/user/detail"), lambda w, m, a, b: w.welink_detail(a, b)),
        SimulatedRoute(exact("/api/contact/v1/user/create"), lambda w, m, a, b: w.welink_create(a, b)),
    ),
    credentials=(
        CredentialField("welink_client_id", "WELINK_CLIENT_ID", "sandbox-welink-client"),
        CredentialField("welink_client_secret", "WELINK_CLIENT_SECRET", "sandbox-welink-secret", secret=True),
    ),
)

EXCHANGE = SimulatedSystem(
    name="email",
    label="Exchange",
    auth_header="Authorization",
    rate_limited_reply=Reply(429, {"Message": "Too many requests."}),
    invalid_json_reply=Reply(400, {"Message": "The request body is not valid JSON."}),
    error_reply=lambda status: Reply(status, {"Message": "An error has occurred."}),
    routes=(SimulatedRoute(exact("/api/Exchange/EnableMailbox"), lambda w, m, a, b: w.exchange_enable(a, b)),),
    credentials=(CredentialField("email_token", "EMAIL_AUTH_TOKEN", "sandbox-email-token", secret=True),),
)

BUILT_IN: tuple[SimulatedSystem, ...] = (IDAAS, WELINK, EXCHANGE)


class SimulatedSystems:
    """The simulated systems, in declaration order. A server reads them when it is built."""

    def __init__(self, systems: tuple[SimulatedSystem, ...] = ()):
        self._lock = threading.Lock()
        self._systems: dict[str, SimulatedSystem] = {}
        for system in systems:
            self.register(system)

    def register(self, system: SimulatedSystem) -> None:
        with self._lock:
            if system.name in self._systems:
                raise ValueError(f"simulated system {system.name!r} is declared already")
            self._systems[system.name] = system

    def unregister(self, name: str) -> None:
        with self._lock:
            self._systems.pop(name, None)

    @contextmanager
    def temporarily(self, *systems: SimulatedSystem) -> Iterator[None]:
        """Simulate ``systems`` too for the duration of a ``with`` block (tests)."""
        for system in systems:
            self.register(system)
        try:
            yield
        finally:
            for system in systems:
                self.unregister(system.name)

    def __iter__(self) -> Iterator[SimulatedSystem]:
        return iter(tuple(self._systems.values()))

    def get(self, name: str) -> SimulatedSystem:
        return self._systems[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._systems)

    def credential_fields(self) -> dict[str, CredentialField]:
        return {field.name: field for system in self for field in system.credentials}

    def base_url_settings(self) -> list[str]:
        """The settings that point AccountSync at the sandbox: the ``*_BASE_URL`` settings of
        the registered account types the sandbox simulates."""
        return [
            setting
            for system in self
            if system.name in registry
            for setting in registry.get(system.name).settings
            if setting.endswith("_BASE_URL")
        ]


simulated_systems = SimulatedSystems(BUILT_IN)


def _known_fields(names: Mapping[str, object]) -> dict[str, CredentialField]:
    fields = simulated_systems.credential_fields()
    unknown = sorted(set(names) - set(fields))
    if unknown:
        raise TypeError(f"unknown credentials: {', '.join(unknown)} (known: {', '.join(fields)})")
    return fields


class Credentials:
    """What the sandbox accepts: one value per :class:`CredentialField` of the simulated
    systems, read as attributes (``credentials.idaas_secret``). Fields not given take their
    demo default; an unknown field is a ``TypeError``. Immutable."""

    __slots__ = ("_values",)
    _values: dict[str, str]

    def __init__(self, **values: str) -> None:
        fields = _known_fields(values)
        object.__setattr__(self, "_values", {name: values.get(name, f.default) for name, f in fields.items()})

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> Credentials:
        """Like the constructor, but a value that is None or empty takes the demo default."""
        _known_fields(values)
        return cls(**{name: value for name, value in values.items() if value})

    @classmethod
    def from_settings(cls, settings: object) -> Credentials:
        """Accept what an app configured with ``settings`` sends (unset ones: the demo values)."""
        fields = simulated_systems.credential_fields().values()
        return cls.from_values({f.name: getattr(settings, f.setting, None) for f in fields})

    def __getattr__(self, name: str) -> str:
        if name == "_values":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no credential {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Credentials are immutable")

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle despite __setattr__
        return _credentials, (self._values,)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and other._values == self._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return "Credentials(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


def _credentials(values: dict[str, str]) -> Credentials:
    return Credentials(**values)
