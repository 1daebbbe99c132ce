"""The Slack checks: the token (`auth.test`), its scopes against what the bot uses, the bot in
every channel it must post in, every approver user active, every approver group non-empty.

One call per item, never retried. A Slack error becomes a sentence naming the setting, the
command or the Slack app page that fixes it. Imports slack_sdk and `bot.slack.scopes`; nothing
from the store or the CCE client.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.config import BotConfig
from bot.doctor.checks import Check, Planned, Shared
from bot.slack.scopes import NEEDED, missing_scopes

__all__ = ["SlackDoctor"]

APPS = "https://api.slack.com/apps"
TOKEN_FIX = (
    f"set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…): {APPS} → the app → "
    "OAuth & Permissions"
)
REINSTALL_FIX = (
    f"the app was uninstalled or its token revoked: {APPS} → the app → Install App → Reinstall "
    "to Workspace, then copy the new Bot User OAuth Token to SLACK_BOT_TOKEN"
)
UNREACHABLE_FIX = (
    "check SLACK_API_URL (default https://slack.com/api/) and that this host can reach it "
    "(firewall, proxy)"
)


def scope_fix(scopes: str) -> str:
    return (
        f"add {scopes} under {APPS} → the app → OAuth & Permissions → Scopes (or paste the "
        "current manifest.yml under App Manifest), then Install App → Reinstall to Workspace"
    )


SlackFailure = (SlackClientError, aiohttp.ClientError, OSError)  # SlackApiError included


def _error_of(exc: Exception) -> str | None:
    """Slack's `error` code of a refused call; None when Slack was not reached."""
    return (
        str(exc.response.get("error", "unknown_error")) if isinstance(exc, SlackApiError) else None
    )


def explain(exc: Exception) -> tuple[str, str]:
    """(detail, fix) for a Slack call that failed in a way no single check knows better."""
    if isinstance(exc, SlackApiError):
        error = _error_of(exc)
        if error in ("invalid_auth", "not_authed"):
            return f"Slack refused the token ({error})", TOKEN_FIX
        if error in ("token_revoked", "token_expired", "account_inactive"):
            return f"Slack refused the token ({error})", REINSTALL_FIX
        if error == "missing_scope":
            needed = str(exc.response.get("needed", "a scope"))
            return f"the token lacks the {needed} scope (missing_scope)", scope_fix(needed)
        if error == "ratelimited":
            return "Slack is rate-limiting the app (ratelimited)", "run doctor again in a minute"
        return f"Slack answered {error}", f"see https://api.slack.com/methods for `{error}`"
    if isinstance(exc, SlackClientError | aiohttp.ClientError | OSError):
        return f"cannot reach Slack ({type(exc).__name__}: {exc})", UNREACHABLE_FIX
    raise exc


class SlackDoctor:
    """Plans the Slack checks; `auth.test` is asked once for the token and the scopes."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self._auth: Shared[AsyncSlackResponse] = Shared(client.auth_test)

    async def aclose(self) -> None:
        await self._auth.aclose()

    def plan(self, bot: BotConfig) -> list[Planned]:
        planned = [
            Planned("Slack token", self._token, UNREACHABLE_FIX),
            Planned("Slack scopes", self._scopes, UNREACHABLE_FIX),
        ]
        channels: dict[str, list[str]] = {}
        for channel in bot.channels or []:
            channels.setdefault(channel, []).append("channels")
        if bot.alerts is not None:
            channels.setdefault(bot.alerts.channel, []).append("alerts.channel")
        if bot.channels is None:
            planned.append(Planned("Slack channels", self._no_allow_list, UNREACHABLE_FIX))
        for channel, origins in channels.items():
            planned.append(self._channel(channel, origins))
        planned += [self._user(user) for user in bot.approvers.users]
        planned += [self._group(group) for group in bot.approvers.usergroups]
        return planned

    async def _auth_test(self) -> AsyncSlackResponse:
        answer = await self._auth.get()
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def _invite(self) -> str:
        """`/invite @<the bot's name>`, the name as auth.test gave it when it answered."""
        answer = await self._auth.get()
        name = None if isinstance(answer, Exception) else answer.get("user")
        return f"/invite @{name or 'cce-upgrade-bot'}"

    async def _token(self) -> Check:
        try:
            answer = await self._auth_test()
        except SlackFailure as exc:
            return Check.failed("Slack token", *explain(exc))
        return Check.passed(
            "Slack token",
            f"the bot is @{answer.get('user')} ({answer.get('user_id')}) in "
            f"{answer.get('team')} ({answer.get('team_id')})",
        )

    async def _scopes(self) -> Check:
        name = "Slack scopes"
        try:
            answer = await self._auth_test()
        except SlackFailure as exc:
            detail, _ = explain(exc)
            return Check.failed(name, f"not checked: {detail}", "fix the Slack token first")
        granted = answer.headers.get("x-oauth-scopes")
        if granted is None:
            return Check.failed(
                name,
                "Slack did not say which scopes the token has (no x-oauth-scopes header)",
                "check that SLACK_API_URL is Slack's Web API (https://slack.com/api/)",
            )
        absent = missing_scopes(str(granted))
        if absent:
            why = "; ".join(f"{scope} ({NEEDED[scope]})" for scope in absent)
            return Check.failed(name, f"not granted: {why}", scope_fix(", ".join(absent)))
        have = {s.strip() for s in str(granted).split(",") if s.strip()}
        extra = sorted(have - set(NEEDED))
        unused = f" (also granted, unused: {', '.join(extra)})" if extra else ""
        return Check.passed(name, f"all {len(NEEDED)} scopes the bot uses are granted{unused}")

    async def _no_allow_list(self) -> Check:
        return Check.passed(
            "Slack channels",
            "no `channels:` allow-list: the bot answers in any channel it is invited to",
        )

    def _channel(self, channel: str, origins: list[str]) -> Planned:
        name = f"Slack channel {channel}"
        where = " and ".join(origins)

        async def run() -> Check:
            try:
                answer = await self._client.conversations_info(channel=channel)
            except SlackFailure as exc:
                if _error_of(exc) == "channel_not_found":
                    return Check.failed(
                        name,
                        f"Slack knows no channel {channel} (from {where}), or it is private and "
                        "the bot is not in it",
                        f"check the ID in {where} (in Slack: the channel's name → About → "
                        f"Channel ID); for a private channel, `{await self._invite()}` there",
                    )
                return Check.failed(name, *explain(exc))
            info: dict[str, Any] = answer.get("channel") or {}
            label = f"#{info['name']}" if info.get("name") else channel
            if info.get("is_archived"):
                return Check.failed(
                    name,
                    f"{label} is archived, so nothing can be posted there",
                    f"unarchive {label}, or take {channel} out of {where}",
                )
            if not info.get("is_member"):
                return Check.failed(
                    name,
                    f"the bot is not a member of {label} ({where})",
                    f"type `{await self._invite()}` in {label}",
                )
            return Check.passed(name, f"the bot is a member of {label} ({where})")

        return Planned(name, run, UNREACHABLE_FIX)

    def _user(self, user: str) -> Planned:
        name = f"approver {user}"
        fix_id = (
            f"check {user} in approvers.users (in Slack: the person's profile → ⋮ → Copy member "
            "ID), or remove it"
        )

        async def run() -> Check:
            try:
                answer = await self._client.users_info(user=user)
            except SlackFailure as exc:
                if _error_of(exc) in ("user_not_found", "user_not_visible"):
                    return Check.failed(name, "no such user in this workspace", fix_id)
                return Check.failed(name, *explain(exc))
            info: dict[str, Any] = answer.get("user") or {}
            label = f"@{info.get('name') or user}"
            if info.get("deleted"):
                return Check.failed(
                    name,
                    f"{label} is deactivated, so they cannot approve",
                    f"replace {user} in approvers.users with an active lead, or remove it",
                )
            if info.get("is_bot"):
                return Check.failed(
                    name, f"{label} is a bot, and a bot cannot click Approve", fix_id
                )
            return Check.passed(name, f"{label} is an active user")

        return Planned(name, run, UNREACHABLE_FIX)

    def _group(self, group: str) -> Planned:
        name = f"approver group {group}"

        async def run() -> Check:
            try:
                answer = await self._client.usergroups_users_list(usergroup=group)
            except SlackFailure as exc:
                if _error_of(exc) == "no_such_subteam":
                    return Check.failed(
                        name,
                        "Slack knows no such user group (or it is disabled)",
                        f"check {group} in approvers.usergroups (a user group ID starts with S), "
                        "or enable the group again in Slack",
                    )
                return Check.failed(name, *explain(exc))
            members = list(answer.get("users") or [])
            if not members:
                return Check.failed(
                    name,
                    "the group has no members, so nobody in it can approve",
                    "add the leads to the group in Slack (People → User groups), or list them "
                    "by ID under approvers.users",
                )
            return Check.passed(name, f"{len(members)} member(s)")

        return Planned(name, run, UNREACHABLE_FIX)
