"""The chaos run: people submitted through the API, a faulty sandbox, runner processes killed
with SIGKILL at random moments, and the database "restarting" once per round (a TCP proxy
between the service and PostgreSQL severs every connection and refuses new ones).

After each storm the faults are switched off and runners run until the queue is quiet; then
the invariants are checked. After the last round a secrets phase runs with every system
failing (and a runner with a wrong secret), everything failed is retried, and the log files,
a pg_dump of the database, the processes' output and every API response are scanned for
the configured secrets and for every token issued.

``run_chaos(ChaosConfig(...))`` returns a :class:`ChaosReport`; ``violations`` empty means
every invariant held. Used by ``test_chaos.py`` (CI size) and ``run_chaos.py`` (by hand).
"""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.chaos import infra

CREATE = "/account-creation/create_accounts/"
# Names that share a reading, so mailbox addresses collide and need suffixes.
NAMES = ["张伟", "章伟", "张玮", "李娜", "李娜", "王芳", "汪芳", "刘洋", "柳洋", "陈静", "曾伟", "单伟", "Anna Li"]
SANDBOX_TOKEN = re.compile(r"sbx-(?:idaas|welink|email)-[A-Za-z0-9_-]{16,}")
TERMINAL = ("completed", "failed", "blocked")


@dataclass
class ChaosConfig:
    rounds: int = 3
    seed: int | None = None
    people: int = 12  # per round, split over a few requests
    runners: int = 3
    concurrency: int = 3
    storm_seconds: float = 12.0
    outage_seconds: float = 3.0
    lease_seconds: float = 3.0
    http_timeout: float = 1.0
    quiet_timeout: float = 120.0
    secrets_phase_seconds: float = 6.0
    out: Callable[[str], None] = print


@dataclass
class ChaosReport:
    seed: int = 0
    rounds: int = 0
    kills: int = 0
    runner_starts: int = 0
    runner_db_exits: int = 0
    db_outages: int = 0
    severed_connections: int = 0
    api_requests: int = 0
    api_503_during_outage: int = 0
    people: int = 0
    tasks: int = 0
    failed_before_final_retry: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    create_calls: int = 0
    violations: list[str] = field(default_factory=list)
    secret_findings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        faults = ", ".join(f"{kind} {n}" for kind, n in sorted(self.faults.items())) or "none"
        return (
            f"chaos seed={self.seed}: {self.rounds} round(s), {self.people} people, {self.tasks} tasks, "
            f"{self.runner_starts} runner starts, {self.kills} SIGKILLs, {self.runner_db_exits} runner exits on "
            f"database loss, {self.db_outages} database outage(s) ({self.severed_connections} connections "
            f"severed), {self.api_requests} API requests ({self.api_503_during_outage} answered 503 during an "
            f"outage); downstream faults survived: {faults} (of {self.create_calls} create calls); "
            f"{self.failed_before_final_retry} task(s) failed before the final retry; "
            f"{len(self.violations)} violation(s), {len(self.secret_findings)} secret finding(s); "
            f"{self.seconds:.0f} s"
        )


class RunnerPool:
    """Runner processes (`process_account_creation_tasks`), started and SIGKILLed at will."""

    def __init__(self, chaos: Chaos) -> None:
        self.chaos = chaos
        self.live: list[infra.Service] = []
        self.killed: set[int] = set()
        self.count = 0

    def start(self, env: dict[str, str] | None = None) -> infra.Service:
        chaos = self.chaos
        self.count += 1
        chaos.report.runner_starts += 1
        args = [
            infra.PYTHON, "manage.py", "process_account_creation_tasks", "--no-progress",
            "--concurrency", str(chaos.config.concurrency), "--max-tasks", "1000",
            "--max-seconds", f"{chaos.rng.uniform(2, 8):.1f}",
        ]
        runner = infra.Service(f"runner-{self.count:04d}", args, env or chaos.env, chaos.out_dir)
        chaos.services.append(runner)
        self.live.append(runner)
        return runner

    def reap(self) -> None:
        for runner in list(self.live):
            code = runner.process.poll()
            if code is None:
                continue
            self.live.remove(runner)
            self.classify(runner, code)

    def classify(self, runner: infra.Service, code: int) -> None:
        if code == 0 or runner.process.pid in self.killed:
            return
        last = [line for line in runner.output().splitlines() if line.strip()][-1:] or [""]
        if code == 1 and last[0].startswith("CommandError: Database unreachable"):
            self.chaos.report.runner_db_exits += 1
            return
        self.chaos.violation(f"{runner.name} exited {code} unexpectedly: {last[0][:300]}")

    def kill_one(self) -> None:
        if not self.live:
            return
        victim = self.chaos.rng.choice(self.live)
        self._kill(victim)

    def _kill(self, runner: infra.Service) -> None:
        if runner.process.poll() is None:
            self.killed.add(runner.process.pid)
            runner.process.send_signal(signal.SIGKILL)
            runner.process.wait(timeout=30)
            self.chaos.report.kills += 1
        self.live.remove(runner)

    def kill_all(self) -> None:
        self.reap()
        for runner in list(self.live):
            self._kill(runner)


class Chaos:
    def __init__(self, config: ChaosConfig) -> None:
        self.config = config
        seed = config.seed if config.seed is not None else random.SystemRandom().randrange(1_000_000)
        self.rng = random.Random(seed)
        self.report = ChaosReport(seed=seed)
        self.tag = f"{seed % 10000:04d}{random.SystemRandom().randrange(100):02d}"
        self.out_dir = Path(tempfile.mkdtemp(prefix="accountsync-chaos-"))
        self.log_dir = self.out_dir / "logs"
        self.log_dir.mkdir()
        self.services: list[infra.Service] = []
        self.responses: list[str] = []
        self.accepted: dict[str, dict[str, Any]] = {}  # businessKey -> body accepted by the API
        self.people: set[str] = set()
        self.session = requests.Session()
        self.wrong_secret = "chaos-wrong-secret-" + format(self.rng.getrandbits(64), "x")

    # --- helpers ------------------------------------------------------------------------
    def say(self, message: str) -> None:
        self.config.out(f"[chaos] {message}")

    def violation(self, message: str) -> None:
        self.report.violations.append(message)
        self.say(f"VIOLATION: {message}")

    def api(self, method: str, path: str, body: Any = None) -> requests.Response:
        self.report.api_requests += 1
        response = self.session.request(
            method, self.api_url + path, json=body, headers={"Authorization": f"Token {self.token}"}, timeout=60
        )
        self.responses.append(f"{response.status_code} {dict(response.headers)} {response.text}")
        if response.status_code >= 500 and response.status_code != 503:
            self.violation(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
        return response

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        return infra.sandbox_call(self.sandbox_url, method, path, body)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with infra.connect(self.db) as conn:
            return list(conn.execute(sql, params).fetchall())

    def batch(self, round_no: int, part: int, count: int) -> dict[str, Any]:
        users = []
        for _ in range(count):
            number = f"C{self.tag}{round_no:02d}{len(self.people):04d}"
            self.people.add(number)
            users.append(
                {
                    "employeeNumber": number,
                    "employeeName": self.rng.choice(NAMES),
                    "departmentCode": "120000",
                    "phoneNumber": f"138{self.rng.randrange(10**8):08d}",
                    "partnerCompany": "",
                    "country": "cn",
                }
            )
        return {
            "originSystem": "oa",
            "businessKey": f"chaos-{self.tag}-{round_no}-{part}",
            "accountType": "personal",
            "employeeType": "W",
            "systemList": ["idaas", "welink", "email"],
            "userList": users,
        }

    def submit(self, body: dict[str, Any]) -> None:
        response = self.api("POST", CREATE, body)
        if response.status_code != 201:
            self.violation(f"batch {body['businessKey']} answered {response.status_code}: {response.text[:300]}")
            return
        self.accepted[body["businessKey"]] = body

    # --- set-up and tear-down -----------------------------------------------------------
    def run(self) -> ChaosReport:
        started = time.monotonic()
        self.proxy = infra.TcpProxy().start()
        try:
            with infra.fresh_database("accountsync_chaos") as db:
                self.db = db
                try:
                    self._run()
                finally:
                    self.report.severed_connections = self.proxy.severed
                    for service in self.services:
                        service.stop()
        finally:
            self.proxy.stop()
            self.report.seconds = time.monotonic() - started
        return self.report

    def _run(self) -> None:
        config = self.config
        direct = infra.product_env(self.db, db_port=infra.PG_PORT, log_dir=self.log_dir)
        self.token = infra.prepare_database(direct, client=f"chaos-oa-{self.tag}")
        sandbox, self.sandbox_url = infra.start_sandbox(direct, self.out_dir)
        self.services.append(sandbox)
        self.env = infra.product_env(
            self.db,
            db_port=self.proxy.port,
            log_dir=self.log_dir,
            sandbox_url=self.sandbox_url,
            ACCOUNT_CREATION_LEASE_SECONDS=str(config.lease_seconds),
            ACCOUNT_CREATION_HTTP_TIMEOUT=str(config.http_timeout),
            ACCOUNT_CREATION_BACKOFF_BASE_SECONDS="0.2",
            ACCOUNT_CREATION_BACKOFF_MAX_SECONDS="2",
            ACCOUNT_CREATION_MAX_RETRIES="8",
        )
        api, self.api_url = infra.start_gunicorn(self.env, self.out_dir, workers=2)
        self.services.append(api)
        self.say(f"seed={self.report.seed} database={self.db} output={self.out_dir}")
        for round_no in range(1, config.rounds + 1):
            self._round(round_no)
            self.report.rounds = round_no
        self._secrets_phase()
        self._final()
        state = self.sandbox("GET", "/_sandbox/state")
        self.report.faults = dict(state["totals"]["faults"])
        self.report.create_calls = state["totals"]["create_calls"]["all"]
        self.report.people = len(self.people)
        self.report.tasks = self.query("SELECT count(*) FROM account_creation_accountcreationtask")[0][0]
        self._scan_for_secrets()

    # --- one round ----------------------------------------------------------------------
    def _round(self, round_no: int) -> None:
        config, rng = self.config, self.rng
        faults = {
            "latency_ms": rng.choice([0, 5, 20, 50]),
            "error_rate": round(rng.uniform(0.1, 0.3), 2),
            "timeout_rate": round(rng.uniform(0.05, 0.2), 2),
            "timeout_hold_ms": int(config.http_timeout * 1000 + 500),
            "rate_limit_per_s": rng.choice([0, 15, 40]),
            "token_ttl_s": rng.choice([0, 2, 5]),
            "replication_lag_ms": rng.choice([0, 200, 800]),
            "seed": rng.randrange(1_000_000),
        }
        self.sandbox("POST", "/_sandbox/faults", faults)
        self.say(f"round {round_no}: faults {json.dumps(faults, sort_keys=True)}")
        parts = rng.randint(1, 3)
        sizes = [config.people // parts + (1 if i < config.people % parts else 0) for i in range(parts)]
        bodies = [self.batch(round_no, part, size) for part, size in enumerate(sizes)]
        self.submit(bodies[0])
        replay = self.api("POST", CREATE, bodies[0])
        if replay.status_code != 200 or replay.json().get("replayed") is not True:
            self.violation(f"replay of {bodies[0]['businessKey']} answered {replay.status_code}: {replay.text[:200]}")

        pool = RunnerPool(self)
        storm_end = time.monotonic() + config.storm_seconds
        outage_at = time.monotonic() + config.storm_seconds * rng.uniform(0.3, 0.6)
        expire_at = time.monotonic() + config.storm_seconds * rng.uniform(0.1, 0.9)
        pending_bodies = bodies[1:]
        outage_done = expired = False
        while time.monotonic() < storm_end:
            pool.reap()
            while len(pool.live) < config.runners:
                pool.start()
            if pending_bodies and rng.random() < 0.2:
                self.submit(pending_bodies.pop())
            if rng.random() < 0.06:
                pool.kill_one()
            if not expired and time.monotonic() >= expire_at:
                self.sandbox("POST", "/_sandbox/expire_tokens")
                expired = True
            if not outage_done and time.monotonic() >= outage_at:
                self._outage(round_no, pending_bodies)
                outage_done = True
            time.sleep(0.25)
        for body in pending_bodies:
            self.submit(body)
        pool.kill_all()
        self.sandbox("POST", "/_sandbox/faults", {})
        self._until_quiet(f"round {round_no}")
        self._check(f"round {round_no}", final=False)

    def _outage(self, round_no: int, pending_bodies: list[dict[str, Any]]) -> None:
        self.report.db_outages += 1
        body = pending_bodies.pop() if pending_bodies else self.batch(round_no, 9, 2)
        with self.proxy.outage():
            self.say(f"round {round_no}: database down for {self.config.outage_seconds} s")
            until = time.monotonic() + self.config.outage_seconds
            response = self.api("POST", CREATE, body)
            if response.status_code == 503 and "database is unavailable" in response.json().get("detail", ""):
                self.report.api_503_during_outage += 1
            else:
                self.violation(f"during the outage the API answered {response.status_code}: {response.text[:200]}")
            health = self.session.get(self.api_url + "/healthz", timeout=30)
            self.responses.append(health.text)
            if health.status_code != 503 or health.json().get("database") != "unreachable":
                self.violation(f"during the outage /healthz answered {health.status_code}: {health.text[:200]}")
            time.sleep(max(0.0, until - time.monotonic()))
        # Nothing was written: the same request is now accepted as new.
        self.submit(body)

    def _until_quiet(self, label: str) -> None:
        deadline = time.monotonic() + self.config.quiet_timeout
        while True:
            done = infra.manage(
                self.env, "process_account_creation_tasks", "--no-progress", "--concurrency", "4",
                "--max-tasks", "5000", timeout=300,
            )
            if done.returncode != 0:
                self.violation(f"{label}: a quiet-phase runner exited {done.returncode}: {done.stderr[-500:]}")
            # Tasks a quarantine holds back (and their dependents) wait on purpose (issue #17): quiet
            # means nothing else is left.
            busy = self.query(
                "SELECT count(*) FROM account_creation_accountcreationtask WHERE status IN ('pending', 'processing') "
                "AND NOT (status = 'pending' AND employee_number IN (SELECT held.employee_number FROM "
                "account_creation_accountcreationtask held WHERE held.status = 'pending' AND held.account_type IN "
                "(SELECT name FROM account_creation_downstreamsystem WHERE state = 'quarantined')))"
            )[0][0]
            if not busy:
                return
            if time.monotonic() > deadline:
                self.violation(f"{label}: {busy} task(s) still pending or processing after the quiet phase")
                return
            time.sleep(0.5)

    # --- invariants ---------------------------------------------------------------------
    def _check(self, label: str, *, final: bool) -> None:
        tasks = self.query(
            "SELECT id, employee_number, account_type, status, last_error, locked_until, result "
            "FROM account_creation_accountcreationtask"
        )
        by_person: dict[tuple[str, str], list[int]] = {}
        for task_id, number, system, status, last_error, _locked_until, _ in tasks:
            by_person.setdefault((number, system), []).append(task_id)
            if status not in TERMINAL:
                self.violation(f"{label}: task #{task_id} is {status} after the quiet phase")
            if status in ("failed", "blocked") and not (last_error or "").strip():
                self.violation(f"{label}: task #{task_id} is {status} with no explanation in last_error")
            if final and status != "completed":
                self.violation(f"{label}: task #{task_id} is {status} after the final retry: {last_error[:200]}")
        expired = self.query(
            "SELECT count(*) FROM account_creation_accountcreationtask WHERE status = 'processing' "
            "AND locked_until < now()"
        )[0][0]
        if expired:
            self.violation(f"{label}: {expired} task(s) processing with an expired lease")
        for key, ids in by_person.items():
            if len(ids) > 1:
                self.violation(f"{label}: {key} has {len(ids)} tasks: {ids}")
        accepted_people = {user["employeeNumber"] for body in self.accepted.values() for user in body["userList"]}
        for number in accepted_people:
            for system in ("idaas", "welink", "email"):
                if (number, system) not in by_person:
                    self.violation(f"{label}: accepted {number}/{system} has no task (lost)")

        attempts = self.query(
            "SELECT t.id, t.status, array_agg(l.execution_attempt ORDER BY l.execution_attempt), "
            "count(*) FILTER (WHERE l.outcome = 'succeeded'), count(*) FILTER (WHERE l.outcome = 'running') "
            "FROM account_creation_accountcreationtask t LEFT JOIN account_creation_accountcreationlog l "
            "ON l.task_id = t.id GROUP BY t.id, t.status"
        )
        for task_id, status, numbers, succeeded, running in attempts:
            numbers = [n for n in numbers if n is not None]
            if numbers != list(range(1, len(numbers) + 1)):
                self.violation(f"{label}: task #{task_id} attempt numbers are {numbers}")
            if succeeded > 1:
                self.violation(f"{label}: task #{task_id} has {succeeded} successful attempts")
            if status == "completed" and succeeded != 1:
                self.violation(f"{label}: completed task #{task_id} has {succeeded} successful attempts")
            if status in TERMINAL and running:
                self.violation(f"{label}: {status} task #{task_id} has {running} attempt(s) still running")

        mailboxes = dict(self.query("SELECT employee_number, address FROM account_creation_mailboxaddress"))
        owners: dict[str, set[str]] = {}
        for number, address in mailboxes.items():
            owners.setdefault(address.lower(), set()).add(number)
        state = self.sandbox("GET", "/_sandbox/state")
        accounts = state["accounts"]
        keys = {
            "idaas": Counter(a["employeeNumber"] for a in accounts["idaas"]),
            "welink": Counter(a["corpUserId"] for a in accounts["welink"]),
            "email": Counter(a["SAMAccountName"] for a in accounts["email"]),
        }
        for system, counter in keys.items():
            for key, n in counter.items():
                if n > 1:
                    self.violation(f"{label}: {system} has {n} accounts for {key}")
        idaas_by_number = {a["employeeNumber"]: a for a in accounts["idaas"]}
        sam_to_number = {a["userName"]: a["employeeNumber"] for a in accounts["idaas"]}
        for account in accounts["idaas"]:
            owners.setdefault(account["email"].lower(), set()).add(account["employeeNumber"])
        for account in accounts["email"]:
            number = sam_to_number.get(account["SAMAccountName"], account["SAMAccountName"])
            owners.setdefault(account["PrimarySmtpAddress"].lower(), set()).add(number)
            if mailboxes.get(number) and mailboxes[number].lower() != account["PrimarySmtpAddress"].lower():
                self.violation(
                    f"{label}: {number}'s mailbox is {account['PrimarySmtpAddress']}, allocated {mailboxes[number]}"
                )
        for address, numbers in owners.items():
            if len(numbers) > 1:
                self.violation(f"{label}: the address {address} was given to {sorted(numbers)}")

        status_of = {(number, system): status for _, number, system, status, *_ in tasks}
        present = {
            "idaas": set(keys["idaas"]),
            "welink": set(keys["welink"]),
            "email": {sam_to_number.get(sam, sam) for sam in keys["email"]},
        }
        for (number, system), status in status_of.items():
            exists = number in present[system]
            if status == "completed" and not exists:
                self.violation(f"{label}: {number}/{system} is completed but the account does not exist downstream")
            if final and not exists:
                self.violation(f"{label}: {number}/{system} has no account downstream after the final retry")
        for system, numbers in present.items():
            for number in numbers:
                if (number, system) not in status_of:
                    self.violation(f"{label}: {system} account {number} belongs to no task")
        for number, account in idaas_by_number.items():
            if mailboxes.get(number) and account["email"].lower() != mailboxes[number].lower():
                self.violation(f"{label}: IDaaS has {account['email']} for {number}, allocated {mailboxes[number]}")
        failed = sum(1 for *_, status, _e, _l, _r in tasks if status in ("failed", "blocked"))
        self.say(
            f"{label}: {len(tasks)} tasks checked, {failed} failed/blocked with reasons, "
            f"{sum(len(c) for c in keys.values())} downstream accounts, "
            f"{len(self.report.violations)} violation(s) so far"
        )

    # --- secrets ------------------------------------------------------------------------
    def _secrets_phase(self) -> None:
        """Every system failing, tokens expiring, one runner with a wrong secret."""
        self.sandbox("POST", "/_sandbox/faults", {"error_rate": 1.0, "token_ttl_s": 1, "seed": 7})
        self.submit(self.batch(99, 0, 4))
        pool = RunnerPool(self)
        wrong = pool.start(
            env={**self.env, "IDAAS_SECRET": self.wrong_secret, "WELINK_CLIENT_SECRET": self.wrong_secret}
        )
        try:
            wrong.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        end = time.monotonic() + self.config.secrets_phase_seconds
        while time.monotonic() < end:
            pool.reap()
            while len(pool.live) < 2:
                pool.start()
            time.sleep(0.3)
        pool.kill_all()
        for path in ("/account-creation/", "/account-creation/task_stats/", "/department-mappings/"):
            self.api("GET", path)
        for (task_id,) in self.query("SELECT id FROM account_creation_accountcreationtask ORDER BY id DESC LIMIT 12"):
            self.api("GET", f"/account-creation/{task_id}/")
            self.api("GET", f"/account-creation/{task_id}/logs/")
        self.sandbox("POST", "/_sandbox/faults", {})

    def _final(self) -> None:
        self._until_quiet("final")
        self.report.failed_before_final_retry = self.query(
            "SELECT count(*) FROM account_creation_accountcreationtask WHERE status IN ('failed', 'blocked')"
        )[0][0]
        retried = infra.manage(self.env, "process_account_creation_tasks", "--retry-failed")
        if retried.returncode != 0:
            self.violation(f"--retry-failed exited {retried.returncode}: {retried.stderr[-300:]}")
        self._until_quiet("final")
        self._check("final", final=True)

    def _scan_for_secrets(self) -> None:
        dump = subprocess.run(
            ["pg_dump", "-h", infra.PG_HOST, "-p", str(infra.PG_PORT), "-U", infra.PG_USER, self.db],
            capture_output=True, text=True, timeout=300, check=False,
        )
        if dump.returncode != 0:
            self.violation(f"pg_dump failed: {dump.stderr[-300:]}")
        # API keys are stored only as hashes: the dump must not hold the key anywhere (its
        # 8-character prefix, which identifies it, is stored on purpose).
        sources: dict[str, str] = {"pg_dump": dump.stdout, "api responses": "\n".join(self.responses)}
        for path in sorted(self.log_dir.rglob("*")):
            if path.is_file():
                sources[f"log file {path.name}"] = path.read_text(errors="replace")
        for service in self.services:
            if service.name != "sandbox":  # the downstream imitation itself is not the product
                sources[f"output of {service.name}"] = service.output()
        needles = {
            **infra.SECRETS,
            "wrong secret": self.wrong_secret,
            "API token": self.token,
            "API token's secret part": self.token.partition(".")[2],
        }
        scanned = 0
        for source, text in sources.items():
            scanned += len(text)
            for name, value in needles.items():
                if value in text:
                    self.report.secret_findings.append(f"{name} found in {source}")
            match = SANDBOX_TOKEN.search(text)
            if match:
                self.report.secret_findings.append(f"an issued downstream token found in {source}: {match[0][:14]}…")
        if self.token[:8] not in dump.stdout:
            self.violation("the scan did not find the API key's prefix in api_clients_apikey: is the dump complete?")
        for finding in self.report.secret_findings:
            self.say(f"SECRET: {finding}")
        self.say(f"secrets scan: {len(sources)} sources, {scanned} characters, {len(needles) + 1} patterns")


def run_chaos(config: ChaosConfig) -> ChaosReport:
    return Chaos(config).run()
