"""`cce-upgrade-bot doctor` against the simulator and the Slack stand-in: every check named, each
failure with its fix, the exit status, valid JSON, and no secret printed (SPEC §10.4)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import main
from bot.doctor import Check, redact
from bot.doctor.checks import Planned, run_checks
from bot.doctor.clock import skew_check
from bot.simulator import RunningSimulator, running_simulator
from bot.standin import FakeSlack
from bot.store import Store, create_engine
from tests.e2e import LEAD1, LEAD2, PROJECT, bot_yaml

AK, SK = "DOCTORAK0000000000000", "doctor-secret-key-0123456789"
BOT_TOKEN = "xoxb-doctor-token-0123456789"
GROUP = "S0SRELEADS"
CHANNEL, ALERTS = "C0INCIDENT", "C0ALERTS"
UNKNOWN_PROJECT = "0123456789abcdef0123456789abcdef"


@dataclass
class Doctor:
    """The simulator, the stand-in and an environment pointing at them; `run` calls doctor."""

    sim: RunningSimulator
    slack: FakeSlack
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]
    config_path: Path

    def write_config(self, **overrides: Any) -> None:
        config = bot_yaml(
            channels=[CHANNEL, ALERTS],
            alerts={"channel": ALERTS},
            approvers={"users": [LEAD1, LEAD2], "usergroups": [GROUP]},
        )
        config.update(overrides)
        self.config_path.write_text(yaml.safe_dump(config))

    async def run(self, *args: str) -> tuple[int, str]:
        """doctor's exit status and stdout (in a thread: it runs its own event loop)."""
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["doctor", "--timeout", "5", *args])
        out = self.capsys.readouterr().out
        for secret in (SK, BOT_TOKEN, "wrong-secret-key"):
            assert secret not in out
        return code, out

    async def checks(self) -> tuple[int, dict[str, dict[str, Any]]]:
        """`doctor --json`: the exit status and the checks by name (stdout must be only JSON)."""
        code, out = await self.run("--json")
        listed = json.loads(out)
        assert all(set(c) == {"name", "ok", "warning", "detail", "fix"} for c in listed)
        return code, {c["name"]: c for c in listed}


async def _migrated(url: str) -> str:
    store = Store(create_engine(url))
    try:
        await store.migrate()
    finally:
        await store.dispose()
    return url


@pytest.fixture
async def doctor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[Doctor]:
    async with running_simulator(credentials={AK: SK}) as sim, FakeSlack() as slack:
        slack.usergroups[GROUP] = ["U0GROUPLEAD"]
        url = await _migrated(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_APP_TOKEN": "xapp-doctor",
            "SLACK_API_URL": slack.api_url,
            "CLOUD_SDK_AK": AK,
            "CLOUD_SDK_SK": SK,
            "CCE_PROJECT_ID": PROJECT,
            "CCE_ENDPOINT": sim.url,
            "DATABASE_URL": url,
            "BOT_CONFIG": str(tmp_path / "bot.yaml"),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        found = Doctor(sim, slack, monkeypatch, capsys, tmp_path / "bot.yaml")
        found.write_config()
        yield found


def failed(checks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: c for name, c in checks.items() if not c["ok"]}


# -- all green ------------------------------------------------------------------------------


async def test_all_green_exits_0_with_valid_json_and_every_check_ok(doctor: Doctor) -> None:
    """Configuration, the project, its gateway's clock, every alias, Slack's token and scopes,
    both channels, both approvers, the group and the database: all pass, exit 0."""
    code, checks = await doctor.checks()
    assert {} == failed(checks)
    assert 0 == code
    expected = {
        "configuration",
        f"CCE project {PROJECT} at {doctor.sim.url}",
        f"clock skew at {doctor.sim.url}",
        *(f"CCE cluster {alias}" for alias in ("prod-eu", "staging-eu", "dev-eu", "qa-eu")),
        "Slack token",
        "Slack scopes",
        f"Slack channel {CHANNEL}",
        f"Slack channel {ALERTS}",
        f"approver {LEAD1}",
        f"approver {LEAD2}",
        f"approver group {GROUP}",
        "database",
    }
    assert expected == set(checks)
    assert not any(c["warning"] for c in checks.values())
    assert "4 cluster(s) listed" in checks[f"CCE project {PROJECT} at {doctor.sim.url}"]["detail"]
    assert "(within 1 min)" in checks[f"clock skew at {doctor.sim.url}"]["detail"]
    assert "schema current" in checks["database"]["detail"]
    # One read-only call per project and per cluster, never a write, never a retry.
    calls = [(c.method, c.path) for c in doctor.sim.world.calls]
    assert {"GET"} == {method for method, _ in calls}
    assert 5 == len(calls)


async def test_the_text_report_is_one_line_per_check(doctor: Doctor) -> None:
    code, out = await doctor.run()
    lines = out.splitlines()
    assert 0 == code
    assert all(line.startswith("✓ ") for line in lines[:-1])
    assert lines[-1] == f"All {len(lines) - 1} checks passed."


async def test_doctor_on_postgresql_reads_the_schema(doctor: Doctor) -> None:
    from tests.conftest import fresh_postgres

    doctor.monkeypatch.setenv("DATABASE_URL", await fresh_postgres())
    code, checks = await doctor.checks()
    assert (0, True) == (code, checks["database"]["ok"])
    doctor.monkeypatch.setenv("DATABASE_URL", await fresh_postgres(empty=True))
    code, checks = await doctor.checks()
    assert 1 == code
    assert "no schema yet" in checks["database"]["detail"]
    assert "cce-upgrade-bot db upgrade" in checks["database"]["fix"]


# -- CCE ------------------------------------------------------------------------------------


async def test_a_wrong_secret_key_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.monkeypatch.setenv("CLOUD_SDK_SK", "wrong-secret-key")
    code, checks = await doctor.checks()
    assert 1 == code
    project = checks[f"CCE project {PROJECT} at {doctor.sim.url}"]
    assert not project["ok"]
    assert "refused the AK/SK signature" in project["detail"] and "APIGW.0301" in project["detail"]
    assert "CLOUD_SDK_SK" in project["fix"] and "Access Keys" in project["fix"]
    assert checks[f"clock skew at {doctor.sim.url}"]["ok"]  # the refusal is not the clock's
    assert checks["Slack token"]["ok"] and checks["database"]["ok"]


async def test_an_unknown_project_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.write_config(projects=[{"project_id": UNKNOWN_PROJECT, "endpoint": doctor.sim.url}])
    code, checks = await doctor.checks()
    assert 1 == code
    assert [f"CCE project {UNKNOWN_PROJECT} at {doctor.sim.url}"] == list(failed(checks))
    check = checks[f"CCE project {UNKNOWN_PROJECT} at {doctor.sim.url}"]
    assert f"the API knows no project {UNKNOWN_PROJECT}" in check["detail"]
    assert "projects[0]" in check["fix"] and "API Credentials" in check["fix"]


async def test_a_clock_20_min_off_is_named_with_its_fix(doctor: Doctor) -> None:
    """The gateway refuses every signature; doctor says it is the clock, not the key."""
    doctor.sim.faults.date_offset = 20 * 60
    code, checks = await doctor.checks()
    assert 1 == code
    clock = checks[f"clock skew at {doctor.sim.url}"]
    assert not clock["ok"]
    assert "the gateway's clock is 20 min" in clock["detail"] and "ahead of" in clock["detail"]
    assert "signatures more than 15 min off are refused" in clock["detail"]
    assert "NTP" in clock["fix"]
    project = checks[f"CCE project {PROJECT} at {doctor.sim.url}"]
    assert "clock is more than 15 min off" in project["detail"] and "NTP" in project["fix"]
    assert "CLOUD_SDK_SK" not in project["fix"]


@pytest.mark.parametrize(
    ("offset", "ok", "warning", "words"),
    [(-150, True, True, "2 min 30 s behind"), (7 * 60, False, False, "7 min ahead of")],
)
async def test_a_clock_minutes_off_warns_then_fails_before_signatures_do(
    doctor: Doctor, offset: int, ok: bool, warning: bool, words: str
) -> None:
    """Beyond 1 min a warning (exit 0), beyond 5 min a failure, while the API still answers."""
    doctor.sim.faults.date_offset = offset
    code, checks = await doctor.checks()
    clock = checks[f"clock skew at {doctor.sim.url}"]
    assert (ok, warning) == (clock["ok"], clock["warning"])
    assert words in clock["detail"] and "NTP" in clock["fix"]
    assert (0 if ok else 1) == code
    assert checks[f"CCE project {PROJECT} at {doctor.sim.url}"]["ok"]


async def test_a_refused_iam_token_is_named_with_its_fix(doctor: Doctor) -> None:
    for name in ("CLOUD_SDK_AK", "CLOUD_SDK_SK"):
        doctor.monkeypatch.delenv(name)
    doctor.monkeypatch.setenv("CCE_AUTH_TOKEN", "an-expired-iam-token")
    code, checks = await doctor.checks()
    assert 1 == code
    project = checks[f"CCE project {PROJECT} at {doctor.sim.url}"]
    assert "refused CCE_AUTH_TOKEN" in project["detail"]
    assert "expire after 24 h" in project["fix"]


async def test_an_untrusted_certificate_is_named_until_cce_ca_bundle_trusts_it(
    doctor: Doctor,
) -> None:
    async with running_simulator(credentials={AK: SK}, tls=True) as tls:
        assert tls.ca_path is not None
        doctor.monkeypatch.setenv("CCE_ENDPOINT", tls.url)
        code, checks = await doctor.checks()
        assert 1 == code
        project = checks[f"CCE project {PROJECT} at {tls.url}"]
        assert "TLS certificate is not trusted" in project["detail"]
        assert "cce.ca_bundle" in project["fix"]
        doctor.write_config(cce={"ca_bundle": str(tls.ca_path)})
        code, checks = await doctor.checks()
        assert ({}, 0) == (failed(checks), code)


async def test_an_unknown_cluster_alias_is_named_with_its_fix(doctor: Doctor) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    doctor.write_config(clusters={"gone-eu": {"cluster_id": missing}})
    code, checks = await doctor.checks()
    assert 1 == code
    assert ["CCE cluster gone-eu"] == list(failed(checks))
    assert f"the API knows no cluster {missing}" in checks["CCE cluster gone-eu"]["detail"]
    assert "clusters.gone-eu.cluster_id" in checks["CCE cluster gone-eu"]["fix"]


async def test_a_hung_endpoint_fails_within_the_timeout(doctor: Doctor) -> None:
    """Each check is bounded: a gateway that never answers costs one timeout, not a hang."""
    doctor.sim.faults.timeout_rate = 1.0
    started = time.monotonic()
    code, out = await doctor.run("--json", "--timeout", "1")
    assert time.monotonic() - started < 4
    checks = {c["name"]: c for c in json.loads(out)}
    assert 1 == code
    project = checks[f"CCE project {PROJECT} at {doctor.sim.url}"]
    assert not project["ok"] and project["fix"]
    assert checks["Slack token"]["ok"] and checks["database"]["ok"]


# -- Slack ----------------------------------------------------------------------------------


async def test_a_missing_scope_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.slack.scopes = ",".join(s for s in doctor.slack.scopes.split(",") if s != "users:read")
    code, checks = await doctor.checks()
    assert 1 == code
    scopes = checks["Slack scopes"]
    assert not scopes["ok"]
    assert "not granted: users:read" in scopes["detail"]
    assert "OAuth & Permissions" in scopes["fix"] and "Reinstall" in scopes["fix"]
    approver = checks[f"approver {LEAD1}"]  # and the check that needs it says so
    assert "lacks the users:read scope" in approver["detail"] and "users:read" in approver["fix"]


async def test_the_bot_not_in_a_channel_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.slack.add_channel(ALERTS, member=False, name="cce-alerts")
    code, checks = await doctor.checks()
    assert 1 == code
    assert [f"Slack channel {ALERTS}"] == list(failed(checks))
    check = checks[f"Slack channel {ALERTS}"]
    assert "not a member of #cce-alerts" in check["detail"] and "alerts.channel" in check["detail"]
    assert "/invite @cce-upgrade-bot" in check["fix"] and "#cce-alerts" in check["fix"]


async def test_a_deleted_approver_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.slack.users[LEAD2] = {"deleted": True}
    code, checks = await doctor.checks()
    assert 1 == code
    assert [f"approver {LEAD2}"] == list(failed(checks))
    check = checks[f"approver {LEAD2}"]
    assert "deactivated" in check["detail"]
    assert f"replace {LEAD2} in approvers.users" in check["fix"]


async def test_an_unknown_approver_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.slack.known_users = {LEAD1}
    code, checks = await doctor.checks()
    assert 1 == code
    assert "no such user" in checks[f"approver {LEAD2}"]["detail"]
    assert "Copy member ID" in checks[f"approver {LEAD2}"]["fix"]


async def test_an_empty_approver_group_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.slack.usergroups[GROUP] = []
    code, checks = await doctor.checks()
    assert 1 == code
    assert [f"approver group {GROUP}"] == list(failed(checks))
    check = checks[f"approver group {GROUP}"]
    assert "no members" in check["detail"] and "approvers.users" in check["fix"]


async def test_a_refused_slack_token_is_named_with_its_fix(doctor: Doctor) -> None:
    doctor.monkeypatch.setenv("SLACK_BOT_TOKEN", "not-a-slack-token")
    code, checks = await doctor.checks()
    assert 1 == code
    assert "invalid_auth" in checks["Slack token"]["detail"]
    assert "SLACK_BOT_TOKEN" in checks["Slack token"]["fix"]


# -- the database and the configuration -----------------------------------------------------


async def test_a_missing_database_file_is_named_and_not_created(
    doctor: Doctor, tmp_path: Path
) -> None:
    db = tmp_path / "nowhere.db"
    doctor.monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    code, checks = await doctor.checks()
    assert 1 == code
    assert f"the database file {db} does not exist" in checks["database"]["detail"]
    assert "cce-upgrade-bot db upgrade" in checks["database"]["fix"]
    assert not db.exists()


async def test_an_older_schema_is_named_and_left_unchanged(doctor: Doctor, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
        conn.commit()
    before = db.read_bytes()
    code, checks = await doctor.checks()
    assert 1 == code
    assert "schema revision 0001 is older" in checks["database"]["detail"]
    assert "cce-upgrade-bot db upgrade" in checks["database"]["fix"]
    assert before == db.read_bytes()


async def test_an_invalid_configuration_is_one_failed_check(doctor: Doctor) -> None:
    doctor.monkeypatch.delenv("CLOUD_SDK_SK")
    code, checks = await doctor.checks()
    assert 1 == code
    assert ["configuration"] == list(checks)
    assert "CLOUD_SDK_AK and CLOUD_SDK_SK must be set together" in checks["configuration"]["detail"]
    assert "cce-upgrade-bot check" in checks["configuration"]["fix"]


def test_the_report_masks_every_secret_it_is_given() -> None:
    """The second lock: whatever a check quoted, a configured secret prints as `***`."""
    check = Check.failed(f"x {SK}", f"answer echoed {SK} and {BOT_TOKEN}", f"not {SK}")
    [masked] = redact([check], [SK, BOT_TOKEN, ""])
    assert (masked.name, masked.detail, masked.fix) == (
        "x ***",
        "answer echoed *** and ***",
        "not ***",
    )


# -- the parts, on their own ----------------------------------------------------------------

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("skew_s", "signed", "ok", "warning", "words"),
    [
        (0, True, True, False, "agree to the second"),
        (59, True, True, False, "59 s ahead of this host's (within 1 min)"),
        (-61, True, True, True, "1 min 1 s behind this host's, more than 1 min"),
        (301, True, False, False, "5 min 1 s ahead of this host's, more than 5 min"),
        (16 * 60, True, False, False, "every signed API call is refused now"),
        (16 * 60, False, False, False, "times the bot shows and compares will be off"),
    ],
)
def test_clock_thresholds(skew_s: int, signed: bool, ok: bool, warning: bool, words: str) -> None:
    """Within 1 min passes, to 5 min warns, beyond fails; beyond 15 min signatures are refused.
    (`Date` drops its fraction of a second: read at half past, it is taken as that half.)"""
    date = NOW + timedelta(seconds=skew_s)
    check = skew_check("clock", date, NOW + timedelta(milliseconds=500), signed=signed)
    assert (ok, warning) == (check.ok, check.warning)
    assert words in check.detail
    assert (check.fix is None) == (ok and not warning)


async def test_a_check_that_hangs_or_crashes_becomes_a_failed_line() -> None:
    """The runner bounds every check and turns a bug into a line; the others still run."""

    async def hangs() -> Check:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def crashes() -> Check:
        raise RuntimeError("boom")

    async def passes() -> Check:
        return Check.passed("fine", "ok")

    planned = [
        Planned("hangs", hangs, "do this"),
        Planned("crashes", crashes, "unused"),
        Planned("fine", passes, "unused"),
    ]
    started = time.monotonic()
    results = await run_checks(planned, each_within=0.2)
    assert time.monotonic() - started < 2
    assert ["hangs", "crashes", "fine"] == [c.name for c in results]
    assert (False, "no answer within 0.2 s", "do this") == (
        results[0].ok,
        results[0].detail,
        results[0].fix,
    )
    assert not results[1].ok and "RuntimeError: boom" in results[1].detail
    assert results[1].fix and "bug" in results[1].fix
    assert results[2].ok
