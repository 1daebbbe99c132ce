"""Shared fixtures: a clean environment for every test, and the test databases."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_CLEARED_PREFIXES = ("SLACK_", "CLOUD_SDK_", "HUAWEICLOUD_", "CCE_", "BOT_", "DATABASE_URL")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's Slack/CCE settings or a proxy (slack_sdk ignores NO_PROXY)."""
    for name in list(os.environ):
        if name.startswith(_CLEARED_PREFIXES) or name in _PROXIES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKIP_SLACK_SDK_WARNING", "1")
    yield
