"""`cce-upgrade-bot check` lists every problem in plain words; a good config passes."""

from __future__ import annotations

from pathlib import Path

import pytest

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
