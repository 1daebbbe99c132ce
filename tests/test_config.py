"""`cce-upgrade-bot check` lists every problem in plain words; a good config passes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import main
from bot.config import BotConfig, Config, Settings
from bot.domain.durations import parse_duration

GOOD = """
clusters:
  prod-eu:
    cluster_id: f9960c6b-8e60-11ee-9754-0255ac100b05
    project_id: 47eb1d64cbeb45cfa01ae20af4f4b563
    region: eu-west-101
approvers:
  users: [U012LEAD1]
  usergroups: [S0SRELEADS]
approval:
  required: 1
  expires_after: 30m
channels: [C0INCIDENT]
watch:
  interval: 10s
  max_duration: 3h
"""

BAD = """
clusters:
  prod-eu:
    cluster_id: not-a-uuid
    projectid: 47eb1d64cbeb45cfa01ae20af4f4b563
  staging:
    cluster_id: f9960c6b-8e60-11ee-9754-0255ac100b05
    project_id: ../../etc
approval:
  expires_after: soon
watch:
  interval: -5
"""


def run_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, **env: str
) -> tuple[int, str]:
    path = tmp_path / "bot.yaml"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_CONFIG", str(path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    import contextlib
    import io

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(["check"])
    return code, err.getvalue() + out.getvalue()


def test_good_config_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A complete config with credentials and tokens: exit 0 and a one-line summary."""
    code, text = run_check(
        tmp_path,
        monkeypatch,
        GOOD,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_APP_TOKEN="xapp-1",
        CLOUD_SDK_AK="AK",
        CLOUD_SDK_SK="SK",
    )
    assert (0, "Configuration OK") == (code, text[:16])
    assert "Socket Mode" in text


def test_every_problem_is_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown keys, malformed ids, bad durations, missing credentials and tokens, all at once."""
    code, text = run_check(tmp_path, monkeypatch, BAD)
    assert code == 1
    for expected in [
        "clusters.prod-eu.projectid: unknown key",
        "clusters.prod-eu.cluster_id: cluster id 'not-a-uuid' is not valid",
        "clusters.staging.project_id: project id '../../etc' is not valid",
        "approval.expires_after: 'soon' is not a duration",
        "watch.interval: -5 is not a positive duration",
        "no CCE credentials",
        "SLACK_BOT_TOKEN is not set",
        "SLACK_SIGNING_SECRET is required in HTTP mode",
    ]:
        assert expected in text, expected
    assert "Traceback" not in text


def test_half_credentials_and_bad_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AK without SK, and a malformed region, are named."""
    code, text = run_check(
        tmp_path,
        monkeypatch,
        GOOD.replace("eu-west-101", "EU WEST"),
        CLOUD_SDK_AK="AK",
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
    )
    assert code == 1
    assert "CLOUD_SDK_AK and CLOUD_SDK_SK must be set together" in text
    assert "clusters.prod-eu.region" in text


def test_huawei_sdk_variable_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """HUAWEICLOUD_SDK_AK/SK work like CLOUD_SDK_AK/SK."""
    monkeypatch.setenv("HUAWEICLOUD_SDK_AK", "AK2")
    monkeypatch.setenv("HUAWEICLOUD_SDK_SK", "SK2")
    settings = Settings()
    assert settings.cloud_sdk_ak is not None and settings.cloud_sdk_ak.get_secret_value() == "AK2"
    assert "SK2" not in repr(settings)


def test_raw_cluster_id_needs_a_default_project() -> None:
    """A raw cluster id resolves only when CCE_PROJECT_ID is set; aliases resolve as configured."""
    settings = Settings(cce_auth_token="t", cce_region="cn-north-4")
    with pytest.raises(LookupError, match="CCE_PROJECT_ID"):
        Config(settings, BotConfig()).cluster("f9960c6b-8e60-11ee-9754-0255ac100b05")
    settings = Settings(
        cce_auth_token="t",
        cce_region="cn-north-4",
        cce_project_id="47eb1d64cbeb45cfa01ae20af4f4b563",
    )
    alias, ref = Config(settings, BotConfig()).cluster("F9960C6B-8E60-11EE-9754-0255AC100B05")
    assert alias is None and ref.endpoint == "https://cce.cn-north-4.myhuaweicloud.com"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10s", 10), ("30m", 1800), ("3h", 10800), ("1h30m", 5400), ("250ms", 0.25), (45, 45)],
)
def test_durations(text: object, seconds: float) -> None:
    """Durations as people write them."""
    assert seconds == parse_duration(text).total_seconds()


# -- the rules beyond types (bot/config_rules.py) -------------------------------------------

GOOD_ENV = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_APP_TOKEN": "xapp-1",
    "CLOUD_SDK_AK": "AK",
    "CLOUD_SDK_SK": "SK",
}
HTTP_MODE = {"SLACK_APP_TOKEN": None, "SLACK_SIGNING_SECRET": "s"}


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def check_with(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    env: dict[str, str | None],
) -> tuple[int, str]:
    text = yaml.safe_dump(_merged(yaml.safe_load(GOOD), changes))
    environment = {**GOOD_ENV, **env}
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
    present = {k: v for k, v in environment.items() if v is not None}
    return run_check(tmp_path, monkeypatch, text, **present)


BAD_CONFIGS: dict[str, tuple[dict[str, Any], dict[str, str | None], str]] = {
    "approver-a-name": (
        {"approvers": {"users": ["@lead"]}},
        {},
        "approvers.users.0: '@lead' is not a Slack user ID (like U012LEAD1)",
    ),
    "approver-lower-case": (
        {"approvers": {"users": ["u012lead1"]}},
        {},
        "approvers.users.0: 'u012lead1' is not a Slack user ID",
    ),
    "usergroup-a-user": (
        {"approvers": {"usergroups": ["U012LEAD1"]}},
        {},
        "approvers.usergroups.0: 'U012LEAD1' is not a Slack user group ID (like S0SRELEADS)",
    ),
    "channel-a-name": (
        {"channels": ["#incident"]},
        {},
        "channels.0: '#incident' is not a Slack channel ID (like C0INCIDENT)",
    ),
    "alerts-channel-a-user": (
        {"alerts": {"channel": "U012LEAD1"}},
        {},
        "alerts.channel: 'U012LEAD1' is not a Slack channel ID",
    ),
    "interval-zero": (
        {"watch": {"interval": "0s"}},
        {},
        "watch.interval: '0s' is not a positive duration",
    ),
    "fast-interval-under-a-second": (
        {"watch": {"fast_interval": "500ms"}},
        {},
        "watch.fast_interval is 500ms; it must be at least 1s",
    ),
    "fast-interval-slower": (
        {"watch": {"interval": "10s", "fast_interval": "30s"}},
        {},
        "watch.fast_interval is 30s; it must be at most 10s (watch.interval)",
    ),
    "outage-warning-before-a-poll": (
        {"watch": {"interval": "1m", "outage_warning_after": "30s"}},
        {},
        "watch.outage_warning_after is 30s; it must be at least 1m (watch.interval)",
    ),
    "max-duration-before-a-poll": (
        {"watch": {"interval": "1m", "max_duration": "30s", "outage_warning_after": "5m"}},
        {},
        "watch.max_duration is 30s; it must be at least 1m (watch.interval)",
    ),
    "rollback-grace-before-a-poll": (
        {"watch": {"interval": "1m", "rollback_grace": "20s"}},
        {},
        "watch.rollback_grace is 20s; it must be at least 1m (watch.interval)",
    ),
    "recovery-lease-too-short": (
        {"recovery": {"lease": "2s"}},
        {},
        "recovery.lease is 2s; it must be at least 3s",
    ),
    "recovery-lease-too-long": (
        {"recovery": {"lease": "10m"}},
        {},
        "recovery.lease is 10m; it must be at most 5m",
    ),
    "give-up-before-a-takeover": (
        {"recovery": {"lease": "1m", "give_up_after": "90s"}},
        {},
        "recovery.give_up_after is 1m 30s; it must be at least 2m (twice recovery.lease)",
    ),
    "expires-too-soon": (
        {"approval": {"expires_after": "30s"}},
        {},
        "approval.expires_after is 30s; it must be at least 1m",
    ),
    "alerts-too-often": (
        {"alerts": {"channel": "C0INCIDENT", "interval": "5s"}},
        {},
        "alerts.interval is 5s; it must be at least 10s",
    ),
    "stall-before-a-look": (
        {"alerts": {"channel": "C0INCIDENT", "interval": "5m", "stalled_after": "1m"}},
        {},
        "alerts.stalled_after is 1m; it must be at least 5m (alerts.interval)",
    ),
    "alerts-channel-not-allowed": (
        {"alerts": {"channel": "C0ALERTS"}},
        {},
        "alerts.channel C0ALERTS is not in channels",
    ),
    "cluster-cache-too-long": (
        {"cce": {"cluster_cache": "2h"}},
        {},
        "cce.cluster_cache is 2h; it must be at most 1h",
    ),
    "log-level-unknown": (
        {},
        {"LOG_LEVEL": "verbose"},
        "LOG_LEVEL 'verbose' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ),
    "ops-port-is-the-slack-port": (
        {},
        {**HTTP_MODE, "PORT": "8000", "OPS_PORT": "8000"},
        "OPS_PORT and PORT are both 8000",
    ),
    "ops-port-out-of-range": (
        {},
        {"OPS_PORT": "70000"},
        "OPS_PORT 70000 is not a TCP port (1 to 65535)",
    ),
    "port-zero": ({}, {**HTTP_MODE, "PORT": "0"}, "PORT 0 is not a TCP port (1 to 65535)"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_each_bad_config_gives_its_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    """One broken rule: exit 1, exactly one problem listed, in plain words, no traceback."""
    changes, env, expected = BAD_CONFIGS[case]
    code, text = check_with(tmp_path, monkeypatch, changes, env)
    assert (1, True) == (code, expected in text), text
    assert "The configuration has 1 problem(s)" in text
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "env", [{"LOG_LEVEL": "debug"}, {"LOG_LEVEL": "Warning"}, {"OPS_PORT": "3000"}]
)
def test_good_variations_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]
) -> None:
    """LOG_LEVEL in any case; in Socket Mode PORT is not opened, so OPS_PORT may equal it."""
    code, text = check_with(tmp_path, monkeypatch, {"watch": {"fast_interval": "2s"}}, env)
    assert (0, "Configuration OK") == (code, text[:16]), text


def test_every_broken_rule_is_listed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changes = {
        "approvers": {"users": ["lead"]},
        "watch": {"interval": "500ms", "fast_interval": "20s"},
        "recovery": {"lease": "1s"},
    }
    env = {"LOG_LEVEL": "loud", "OPS_PORT": "0"}
    code, text = check_with(tmp_path, monkeypatch, changes, env)
    assert code == 1
    assert "The configuration has 6 problem(s)" in text
    assert "watch.interval is 500ms" in text
    for part in (
        "approvers.users.0",
        "watch.fast_interval",
        "recovery.lease",
        "LOG_LEVEL",
        "OPS_PORT",
    ):
        assert part in text


def test_run_refuses_an_unknown_log_level_in_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` used to crash in logging.setLevel; now it stops before starting anything."""
    path = tmp_path / "bot.yaml"
    path.write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    for name, value in {**GOOD_ENV, "BOT_CONFIG": str(path), "LOG_LEVEL": "chatty"}.items():
        monkeypatch.setenv(name, value)
    assert 2 == main(["run"])
    err = capsys.readouterr().err
    assert "LOG_LEVEL 'chatty' is not one of" in err and "Traceback" not in err


def test_the_timer_keys_of_release_0_1_0_are_accepted_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`recover_unsent_after`, `settle_after` and `watch.lease` became the lease: a 0.1.0
    config still passes, and `check` says what replaced each key."""
    old = (
        GOOD
        + "\n"
        + "\n".join(
            [
                "approval:",
                "  recover_unsent_after: 30s",
                "  settle_after: 2m",
                "watch:",
                "  lease: 60s",
            ]
        )
    )
    code, text = run_check(tmp_path, monkeypatch, old, **GOOD_ENV)
    assert 0 == code, text
    for key in ("approval.recover_unsent_after", "approval.settle_after", "watch.lease"):
        assert f"note: {key} is no longer used" in text
    assert text.count("recovery.lease") == 3
