"""Operating the bot: /metrics, /readyz, JSON logs without secrets, the audit export, manifest."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.exposition import choose_encoder

import handlers.commands
from bot.__main__ import _secret_values, main
from bot.config import Settings
from bot.logs import configure_logging
from bot.simulator import RunningSimulator, running_simulator
from bot.slack.scopes import NEEDED, missing_scopes
from bot.standin import FakeSlack
from bot.standin.stack import running_stack
from tests.e2e import (
    LEAD1,
    WF_FAILED,
    WF_RUNNING,
    bot_yaml,
    cancel_failed_workflow,
)
from tests.test_logs import SECRETS

ROOT = Path(__file__).parent.parent


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def test_metrics_move_when_the_flow_runs(sim: RunningSimulator, sqlite_url: str) -> None:
    """Commands, approvals, cancel calls, API latency and open watches are exposed and move."""
    async with running_stack(sim, sqlite_url, bot_yaml()) as stack:
        assert stack.server is not None
        before = (await stack.http.get(stack.server.ops_url + "/metrics")).text
        assert 0 == metric(before, "cce_bot_cancel_calls_total")
        await cancel_failed_workflow(stack)
        await stack.command("frobnicate")
        stack.slack.fail_next("chat.postMessage", error="not_in_channel")
        _, name = await stack.command(f"watch staging-eu {WF_RUNNING}")
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
        response = await stack.http.get(stack.server.ops_url + "/metrics")
        assert response.status_code == 200
        text = response.text
    assert 1 == metric(text, "cce_bot_commands_total", command="cancel", outcome="ok")
    assert 1 == metric(text, "cce_bot_commands_total", command="watch", outcome="refused")
    assert 1 == metric(text, "cce_bot_commands_total", command="invalid", outcome="invalid")
    assert 1 == metric(text, "cce_bot_approvals_total", outcome="approved")
    assert 1 == metric(text, "cce_bot_cancel_calls_total", result="accepted")
    assert 1 <= metric(text, "cce_bot_api_request_seconds_count", operation="show_workflow")
    assert 1 == metric(text, "cce_bot_api_request_seconds_count", operation="cancel_workflow")
    assert 1 == metric(text, "cce_bot_open_watches")
    assert 1 == metric(text, "cce_bot_slack_api_errors_total", error="not_in_channel")
    assert "cce_bot_poll_errors_total" in text


PROMETHEUS = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def prometheus_type(accept: str) -> str:
    """The content type prometheus_client itself answers for this Accept header."""
    return choose_encoder(accept)[1]


async def test_health_and_metrics_are_on_the_ops_port_only(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """SPEC §7: /healthz, /readyz and /metrics answer on OPS_PORT; the public Slack port serves
    POST /slack/events and nothing else."""
    async with running_stack(sim, sqlite_url, bot_yaml()) as stack:
        assert stack.server is not None
        slack_port, ops_port = stack.server.url, stack.server.ops_url
        assert slack_port != ops_port
        for path in ("/healthz", "/readyz", "/metrics"):
            assert 404 == (await stack.http.get(slack_port + path)).status_code, path
        assert 404 == (await stack.http.post(ops_port + "/slack/events", content=b"")).status_code
        assert 200 == (await stack.http.get(ops_port + "/healthz")).status_code
        ready = await stack.http.get(ops_port + "/readyz")
        assert (200, {"ok": True, "database": True}) == (ready.status_code, ready.json())
        metrics = await stack.http.get(ops_port + "/metrics")
        # What Prometheus itself asks for: the library negotiates the format and its type.
        scraped = await stack.http.get(ops_port + "/metrics", headers={"Accept": PROMETHEUS})
    assert (200, prometheus_type("*/*")) == (metrics.status_code, metrics.headers["content-type"])
    assert "# TYPE cce_bot_open_watches gauge" in metrics.text
    assert prometheus_type(PROMETHEUS) == scraped.headers["content-type"]
    assert scraped.text.rstrip().endswith("# EOF")  # OpenMetrics, as asked


METRICS_TOKEN = "mt-9f1c2e7a5b3d"


async def test_metrics_token_is_required_when_set(sim: RunningSimulator, sqlite_url: str) -> None:
    """With METRICS_TOKEN, /metrics wants `Authorization: Bearer <token>`: anything else is 401;
    the health endpoints stay open for probes."""
    async with running_stack(sim, sqlite_url, bot_yaml(), metrics_token=METRICS_TOKEN) as stack:
        assert stack.server is not None
        url = stack.server.ops_url + "/metrics"
        refused = [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
            {"Authorization": f"bearer {METRICS_TOKEN[:-1]}"},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
            {"Authorization": METRICS_TOKEN},
            {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}é".encode()},
        ]
        for headers in refused:
            response = await stack.http.get(url, headers=headers)
            assert (401, "cce_bot" not in response.text) == (response.status_code, True), headers
        right = await stack.http.get(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert (200, prometheus_type("*/*")) == (right.status_code, right.headers["content-type"])
        assert "cce_bot_open_watches" in right.text
        for path in ("/healthz", "/readyz"):
            assert 200 == (await stack.http.get(stack.server.ops_url + path)).status_code


class Proxy:
    """A loopback TCP proxy to PostgreSQL that a test can cut, to make the database vanish."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server: asyncio.Server | None = None
        self.links: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for link in self.links:
            link.close()
        await self.server.wait_closed()


async def test_readyz_fails_while_the_database_is_gone(sim: RunningSimulator) -> None:
    """/readyz is 200 with the database, 503 without it; /healthz stays 200."""
    from tests.conftest import PG_URL, fresh_postgres

    await fresh_postgres()
    match = re.match(r"(.*@)([^:/]+):(\d+)(/.*)", PG_URL)
    assert match is not None
    proxy = Proxy((match[2], int(match[3])))
    port = await proxy.start()
    url = f"{match[1]}127.0.0.1:{port}{match[4]}"
    async with running_stack(sim, url, bot_yaml()) as stack:
        assert stack.server is not None
        ready = await stack.http.get(stack.server.ops_url + "/readyz")
        assert (200, True) == (ready.status_code, ready.json()["database"])
        await proxy.cut()
        gone = await stack.http.get(stack.server.ops_url + "/readyz")
        assert (503, False) == (gone.status_code, gone.json()["database"])
        assert 200 == (await stack.http.get(stack.server.ops_url + "/healthz")).status_code
        metrics = await stack.http.get(stack.server.ops_url + "/metrics")
        assert metrics.status_code == 200


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Configure logging as `run` does with LOG_FORMAT=json and these secrets, into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    buffer = io.StringIO()
    configure_logging("DEBUG", "json", _secret_values(Settings(**SECRETS)))
    root.handlers[0].stream = buffer  # type: ignore[attr-defined]
    yield buffer
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


async def test_json_logs_and_slack_posts_carry_no_secret(
    json_logs: io.StringIO, sqlite_url: str
) -> None:
    """A full flow (AK/SK signing, a metrics scrape) with real-looking secrets: none appears in
    the logs or in any Slack post."""
    credentials = {SECRETS["cloud_sdk_ak"]: SECRETS["cloud_sdk_sk"]}
    async with (
        running_simulator(credentials=credentials) as sim,
        running_stack(sim, sqlite_url, bot_yaml(), **SECRETS) as stack,
    ):
        await cancel_failed_workflow(stack)
        _, name = await stack.command("status prod-eu 00000000-0000-0000-0000-000000000000")
        await stack.slack.wait_for("response_url", predicate=lambda c: c.params["_name"] == name)
        assert stack.server is not None
        wrong = {"Authorization": f"Bearer {SECRETS['metrics_token']}x"}
        assert (
            401
            == (await stack.http.get(stack.server.ops_url + "/metrics", headers=wrong)).status_code
        )
        posted = json.dumps([c.params for c in stack.slack.calls]) + json.dumps(
            stack.slack.responses
        )
    logs = json_logs.getvalue()
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert lines, "no JSON log lines"
    events = {line["event"] for line in lines}
    assert "approval.opened" in events and "cce.cancel.accepted" in events
    accepted = next(line for line in lines if line["event"] == "cce.cancel.accepted")
    assert accepted["workflow_id"] == WF_FAILED and accepted["request_id"]
    for secret in SECRETS.values():
        assert secret not in logs
        assert secret not in posted


async def test_audit_prints_every_step_in_order(
    sim: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`cce-upgrade-bot audit` after a flow: each step, its actor, and the API request id."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
    async with running_stack(sim, url, bot_yaml()) as stack:
        await cancel_failed_workflow(stack)
    monkeypatch.setenv("DATABASE_URL", url)
    assert 0 == await asyncio.to_thread(main, ["audit", "--workflow", WF_FAILED])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    actions = [r["action"] for r in records]
    assert [
        "request.opened",
        "approval.given",
        "approval.approved",
        "cancel.sent",
        "cancel.accepted",
        "watch.started",
    ] == actions
    assert records[0]["actor"] == "U0REQUEST1" and records[1]["actor"] == LEAD1
    accepted, watching = records[-2:]
    assert accepted["request_id"] and accepted["phase"] == "Cancel"
    assert watching["approval_id"] == accepted["approval_id"] and watching["watch_id"]


# Which scopes each Slack Web API method the bot calls needs (public and private channels).
SCOPES = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "usergroups.users.list": {"usergroups:read"},
    "conversations.replies": {"channels:history", "groups:history"},
    "conversations.history": {"channels:history", "groups:history"},
    "views.open": set(),  # a trigger id is all views.open needs
    "views.update": set(),
    "views.publish": set(),
    "conversations.info": {"channels:read", "groups:read"},  # doctor: the bot in each channel
    "users.info": {"users:read"},  # doctor: each approver user active
}
# Events the bot listens to, and the scope each needs to be delivered.
EVENT_SCOPES: dict[str, set[str]] = {"app_home_opened": set()}


def methods_called() -> set[str]:
    """Slack Web API methods named in the bot's code (strings, or slack_sdk's method helpers)."""
    found: set[str] = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").glob("*.py")]:
        if path.parts[-2] in ("standin", "simulator"):
            continue  # the stand-ins answer Slack methods; they do not call them
        source = path.read_text()
        found |= set(re.findall(r'"((?:chat|usergroups|users|conversations|views)\.\w+)"', source))
        helpers = re.findall(r"\.((?:chat|usergroups|users|conversations|views)_\w+)\(", source)
        found |= {".".join(h.split("_")) for h in helpers}
    return found


def events_listened() -> set[str]:
    """Events API types the handlers register a listener for (`app.event("...")`)."""
    source = "".join(p.read_text() for p in (ROOT / "handlers").glob("*.py"))
    return set(re.findall(r'\.event\("(\w+)"\)', source))


def test_manifest_declares_exactly_what_the_code_uses() -> None:
    """The slash command, interactivity, Socket Mode, and exactly the scopes the code needs."""
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert [handlers.commands.COMMAND] == commands
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    called = methods_called()
    assert set(SCOPES) == called
    events = events_listened()
    assert set(EVENT_SCOPES) == events
    assert events == set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    expected = {"commands"}.union(*(SCOPES[m] for m in called), *(EVENT_SCOPES[e] for e in events))
    assert expected == set(manifest["oauth_config"]["scopes"]["bot"])


def test_the_scopes_checked_at_start_are_the_manifests() -> None:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(NEEDED) == set(manifest["oauth_config"]["scopes"]["bot"])


@pytest.mark.parametrize("granted", ["commands,chat:write,usergroups:read", "chat:write"])
async def test_a_token_without_a_needed_scope_is_reported_at_start(
    sim: RunningSimulator, sqlite_url: str, granted: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Each missing scope is logged by name with what it costs, once, as the bot starts."""
    caplog.set_level(logging.WARNING, logger="bot.slack.scopes")
    async with FakeSlack() as slack:
        slack.scopes = granted
        async with running_stack(sim, sqlite_url, bot_yaml(), slack=slack) as stack:
            assert stack.bot.scope_check is not None
            absent = await stack.bot.scope_check
    assert absent == missing_scopes(granted)
    assert "channels:history" in absent and "groups:history" in absent
    logged = [r for r in caplog.records if r.getMessage() == "slack.scopes.missing"]
    assert [getattr(r, "status", None) for r in logged] == absent
    assert all("without it:" in getattr(r, "detail", "") for r in logged)


async def test_a_token_with_every_scope_logs_nothing(
    sim: RunningSimulator, sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.slack.scopes")
    async with running_stack(sim, sqlite_url, bot_yaml()) as stack:
        assert stack.bot.scope_check is not None
        assert await stack.bot.scope_check == []
    assert not [r for r in caplog.records if r.name == "bot.slack.scopes"]
