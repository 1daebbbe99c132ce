"""Hardening at the protocol boundary: hostile text, odd payloads, bad signatures, authz, faults.

Everything runs end to end on loopback (simulator + FakeSlack + the bot serving HTTP); nothing of
ours is patched. The property tests drive one running stack: hypothesis runs in a worker thread
and hands each example to the event loop that owns the stack, so shrinking still works.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot.domain.commands import (
    Cancel,
    Clusters,
    Help,
    Invalid,
    ListWorkflows,
    OpenModal,
    Status,
    Watch,
    command_text,
    parse_command,
)
from bot.simulator import Fault, RunningSimulator, running_simulator
from bot.slack.blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from bot.slack.usage import USAGE
from bot.standin.slack_requests import block_actions_body, sign, slash_command_body
from bot.standin.stack import SIGNING_SECRET, SIM_TOKEN, Stack, running_stack
from tests.e2e import (
    CHANNEL,
    DEV,
    GROUP_LEAD,
    LEAD1,
    LEAD2,
    OUTSIDER,
    PROD,
    PROJECT,
    QA,
    REQUESTER,
    STAGING,
    WF_CRITICAL,
    WF_DONE,
    WF_FAILED,
    WF_RUNNING,
    approval_id_of,
    bot_yaml,
    requests_posted,
    text_of,
)

T = TypeVar("T")

# Random UUIDs drawn as 128-bit integers: `st.uuids()` draws from a shared random generator and
# hypothesis then sometimes reports "Inconsistent data generation" (FlakyStrategyDefinition)
# when it replays an example; an integer is drawn the same way every time.
UUIDS = st.integers(0, 2**128 - 1).map(lambda i: str(uuid.UUID(int=i, version=4)))
ALIASES = {"prod-eu": PROD, "staging-eu": STAGING, "dev-eu": DEV, "qa-eu": QA}
WORKFLOWS = [WF_FAILED, WF_RUNNING, WF_DONE, WF_CRITICAL]
_HEX_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
UUID = re.compile(_HEX_UUID)
API_PATH = re.compile(
    rf"/autopilot/v3/projects/{PROJECT}/clusters/{_HEX_UUID}/operation/upgradeworkflows"
    rf"(/{_HEX_UUID})?"
)
CLUSTERS_PATH = f"/autopilot/v3/projects/{PROJECT}/clusters"  # the list names are found in
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SLACK_LIMIT = 3000  # what Slack shows of a message's text

# -- strategies -----------------------------------------------------------------------------

JUNK = [
    "../",
    "..%2f",
    "%2f",
    "%2F",
    "%00",
    "/",
    "\\",
    "\x00",
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space (not whitespace for str.split)
    "İ",  # lowercases to two characters
    "\u212a",  # Kelvin sign, lowercases to ASCII "k"
    "ＡＢＣ",  # fullwidth
    "١٢٣٤",  # Arabic-Indic digits
    "<@U0LEAD1>",
    "<!channel>",
    "`",
    "*bold*",
    "${jndi:ldap://x}",
    "x" * 600,
    "a" * 129,  # one longer than a cluster token may be
]
SEPARATORS = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\x1f"]
VERBS = ["cancel", "status", "watch", "list", "help", "CANCEL", "Status", "-h", "--help", "?"]


def _uuid_forms() -> st.SearchStrategy[str]:
    base = UUIDS | st.sampled_from([*WORKFLOWS, *ALIASES.values()])
    return st.one_of(
        base,
        base.map(str.upper),
        base.map(lambda u: u[:-1]),  # truncated
        base.map(lambda u: u.replace("-", "")),  # no dashes
        st.tuples(base, st.sampled_from(JUNK)).map("".join),  # junk after
        st.tuples(st.sampled_from(JUNK), base).map("".join),  # junk before
    )


_word = st.one_of(
    st.sampled_from([*VERBS, *ALIASES, "PROD-EU", "nosuch", "payload"]),
    _uuid_forms(),
    st.sampled_from(JUNK),
    st.text(min_size=1, max_size=20),
)
# Mostly-right commands: a real verb, a known (or near-known) cluster, a UUID in some form.
_near_valid = st.tuples(
    st.sampled_from(["cancel", "status", "watch", "list", "STATUS", "Cancel"]),
    st.sampled_from([*ALIASES, *ALIASES.values(), "PROD-EU", "nosuch"]) | _word,
    _uuid_forms(),
    st.lists(_word, max_size=2),
    st.sampled_from(SEPARATORS),
).map(lambda t: t[4].join([t[0], t[1], t[2], *t[3]]))
# Or a verb (or junk) first, then words, each followed by some kind of whitespace.
command_texts = st.one_of(
    st.text(),
    _near_valid,
    _near_valid.map(lambda text: text.split()[0] + " " + text.split()[1]),  # `list <cluster>`
    st.tuples(
        st.sampled_from(VERBS) | _word,
        st.lists(st.tuples(st.sampled_from(SEPARATORS), _word), max_size=6),
        st.sampled_from(["", *SEPARATORS]),
    ).map(lambda t: t[0] + "".join(s + w for s, w in t[1]) + t[2]),
)
# Lone surrogates cannot be form-encoded as UTF-8 (and Slack never sends them): pure tests only.
any_text = st.text(alphabet=st.characters(blacklist_categories=()))


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=4,
    )


def _click_payloads(response_url: str, real_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """block_actions payloads from non-approvers, with odd ids, values, types and gaps.

    Kept inside the shapes the bot survives today; see the xfail tests below for the rest.
    """
    users = st.one_of(
        st.sampled_from(
            [
                OUTSIDER,
                REQUESTER,  # the requester is not an approver
                LEAD1.lower(),
                f" {LEAD1}",
                f"{LEAD1} ",
                f"{LEAD1}\n",
                f"{LEAD1}\u200b",
                f"<@{LEAD1}>",
                GROUP_LEAD.lower(),
                "",
            ]
        ),
        st.text(max_size=20).filter(lambda u: u not in (LEAD1, LEAD2, GROUP_LEAD)),
    )
    user_objects = st.one_of(
        st.fixed_dictionaries({"id": users}),
        st.fixed_dictionaries({"id": users, "team_id": st.just("T111"), "name": st.text()}),
        st.fixed_dictionaries({"id": _json_values()}).filter(
            lambda u: u["id"] not in (LEAD1, LEAD2, GROUP_LEAD)
        ),
        st.just({}),
    )
    values = st.one_of(
        st.sampled_from(
            [
                real_id,
                real_id.upper(),
                f" {real_id}",
                real_id + "%00",
                "../" + real_id,
                "req-",
                "req-000000000000",
                real_id * 10,
                "",
            ]
        ),
        st.text(),
        _json_values(),
    )
    action_ids = st.sampled_from([APPROVE_ACTION_ID, REJECT_ACTION_ID]) | _json_values()
    action = st.fixed_dictionaries(
        {"action_id": action_ids},
        optional={
            "value": values,
            "type": st.sampled_from(["button", "static_select"]) | _json_values(),
            "block_id": st.text(max_size=10),
            "action_ts": st.text(max_size=20),
        },
    )
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(["block_actions"] * 4 + ["view_submission", "shortcut"]),
            "actions": st.lists(action, min_size=1, max_size=3),
            # Always ours: a generated URL would leave the machine, and a click without one
            # stalls 3 s (see test_click_handler_failure_after_ack_*).
            "response_url": st.just(response_url),
        },
        optional={
            "user": user_objects | st.none(),
            "team": st.just({"id": "T111"}) | st.none() | st.dictionaries(st.text(), st.text()),
            "channel": st.just({"id": CHANNEL}) | st.none() | st.text(),
            "container": _json_values(),
            "message": _json_values(),
            "state": _json_values(),
            "trigger_id": _json_values(),
            "api_app_id": _json_values(),
            "token": _json_values(),
        },
    )


# -- helpers --------------------------------------------------------------------------------


async def drive_property(
    strategy: st.SearchStrategy[T],
    check: Callable[[T], Awaitable[None]],
    *,
    max_examples: int,
) -> None:
    """Run a hypothesis property whose body is async, against state owned by this event loop."""
    loop = asyncio.get_running_loop()

    @settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def prop(example: T) -> None:
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=60)

    await asyncio.to_thread(prop)


def ack_text(response: Any) -> str:
    """The text of an ack (`{"text": ...}`), or the raw body, or ""."""
    if not response.text:
        return ""
    try:
        data = json.loads(response.text)
    except ValueError:
        return str(response.text)
    return str(data.get("text", "")) if isinstance(data, dict) else str(data)


async def answer_to(stack: Stack, name: str, timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
    await stack.slack.wait_for(
        "response_url", predicate=lambda c: c.params["_name"] == name, timeout=timeout
    )
    return stack.responses(name)[-1]


def patches(sim: RunningSimulator) -> list[Any]:
    return [c for c in sim.world.calls if c.method == "PATCH"]


async def open_request(
    stack: Stack, workflow_id: str = WF_FAILED, user: str = REQUESTER, channel: str = CHANNEL
) -> Any:
    response, name = await stack.command(
        f"cancel prod-eu {workflow_id} hardening", user=user, channel=channel
    )
    assert response.status_code == 200
    answer = await answer_to(stack, name)
    assert "posted" in answer["text"], answer
    posted = requests_posted(stack.slack)
    assert posted
    return posted[-1]


def add_cancellable_workflow(sim: RunningSimulator) -> str:
    """A second workflow like WF_FAILED (Cluster failed, phase Pending) on prod-eu."""
    return sim.world.add_workflow(
        PROD,
        points=[
            ("PreCheck", "Success"),
            ("Snapshot", "Success"),
            ("Cluster", "Failed"),
            ("PostCheck", None),
        ],
        phase="Pending",
        age_seconds=600,
    )


def events_url(stack: Stack) -> str:
    assert stack.server is not None
    return stack.server.url + "/slack/events"


@pytest.fixture
async def stack(sim: RunningSimulator, sqlite_url: str) -> AsyncIterator[Stack]:
    async with running_stack(sim, sqlite_url, bot_yaml()) as running:
        running.slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        yield running


# -- 1. parsing, pure -----------------------------------------------------------------------


def _check_parsed(text: str) -> None:
    result = parse_command(text)
    assert isinstance(
        result, Cancel | Status | Watch | ListWorkflows | Clusters | OpenModal | Help | Invalid
    )
    if isinstance(result, Cancel | Status | Watch):
        assert result.workflow_id is None or UUID.fullmatch(result.workflow_id), result
        # Writing the command back out (a workflow button's value) parses to the same command.
        assert result == parse_command(command_text(result))
    if isinstance(result, Cancel | Status | Watch | ListWorkflows):
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", result.cluster), result
    if isinstance(result, Cancel):
        assert len(result.reason) <= 500
        assert result.reason == " ".join(result.reason.split())
    if isinstance(result, Invalid):
        assert result.problem
        assert len(f"{result.problem}\n\n{USAGE}") < SLACK_LIMIT


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_parse_never_raises_on_any_text(text: str) -> None:
    """Any text at all (surrogates, controls, astral planes) gives a command or Invalid."""
    _check_parsed(text)


@settings(max_examples=600, deadline=None)
@given(command_texts)
def test_parse_command_shaped_junk(text: str) -> None:
    """Real verbs, aliases and UUIDs mixed with `../`, `%2f`, unicode and newlines: ids that come
    out are lowercase UUIDs and clean cluster tokens, reasons are bounded."""
    _check_parsed(text)


@given(
    st.sampled_from(["status", "watch", "Status", "WATCH"]),
    st.sampled_from(sorted(ALIASES)),
    UUIDS,
    st.booleans(),
)
def test_well_formed_ids_parse_in_any_case(verb: str, alias: str, wf: str, upper: bool) -> None:
    """A UUID in either case is accepted and normalised to lower case."""
    result = parse_command(f"  {verb}\t{alias}  {wf.upper() if upper else wf}\n")
    expected = Status if verb.lower() == "status" else Watch
    assert expected(alias, wf) == result


# -- 2. properties end to end ---------------------------------------------------------------


def _resolvable(cluster: str) -> bool:
    """Aliases from bot_yaml() and the simulator's names (the same, in any case), or a raw
    cluster id (the stack sets CCE_PROJECT_ID)."""
    return cluster.lower() in ALIASES or bool(UUID.fullmatch(cluster.lower()))


async def test_any_command_text_end_to_end(sqlite_url: str) -> None:
    """Every generated `/cce-upgrade` text: 200, an answer under 3000 characters, and the
    simulator sees a workflow request only for a valid command naming a known cluster, and else
    at most the cluster list (to look for a name); every path is a well-formed one (no `../` or
    `%2f` got through). The modal opens for an empty command."""
    async with (
        running_simulator(token=SIM_TOKEN) as sim,
        running_stack(sim, sqlite_url, bot_yaml()) as stack,
    ):

        async def check(text: str) -> None:
            before = len(sim.world.calls)
            opened = len(stack.slack.calls_to("views.open"))
            response, name = await stack.command(text)
            assert response.status_code == 200, (text, response.status_code, response.text)
            ack = ack_text(response)
            parsed = parse_command(text)
            if isinstance(parsed, OpenModal):  # an empty ack, then the form
                assert "" == ack, (text, ack)
                await stack.slack.wait_for("views.open", count=opened + 1)
                assert stack.slack.calls_to("views.open")[-1].ok
            else:
                assert ack and len(ack) < SLACK_LIMIT, (text, ack)
            named = isinstance(parsed, Cancel | Status | Watch | ListWorkflows)
            if named or isinstance(parsed, Clusters):
                assert ack.startswith(("Working on", "Listing")), (text, ack)
                answer = await answer_to(stack, name)  # the handler is done after this
                assert len(str(answer.get("text", ""))) < SLACK_LIMIT, (text, answer)
                assert "Traceback" not in str(answer)
                assert "Something went wrong" not in str(answer.get("text")), (text, answer)
                if named and not _resolvable(parsed.cluster):
                    assert str(answer["text"]).startswith("Unknown cluster"), (text, answer)
            new = sim.world.calls[before:]
            if not named and not isinstance(parsed, Clusters):
                assert [] == new, (text, parsed, new)
            for call in new:
                assert call.method == "GET", (text, call)
                resolvable = named and _resolvable(parsed.cluster)
                assert call.path == CLUSTERS_PATH or (
                    resolvable and API_PATH.fullmatch(call.path)
                ), (text, call.path)

        await drive_property(command_texts, check, max_examples=150)
        assert [] == patches(sim)


async def test_any_click_payload_end_to_end(sqlite_url: str) -> None:
    """Generated block_actions from non-approvers (random action_ids and values, the real
    approval id in odd spellings, missing fields, wrong types): never 5xx, never a PATCH.

    A real pending request exists throughout; at the end a lead's click still cancels it, so the
    property was not vacuous."""
    async with (
        running_simulator(token=SIM_TOKEN) as sim,
        running_stack(sim, sqlite_url, bot_yaml()) as stack,
    ):
        stack.slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        message = await open_request(stack)
        real_id = approval_id_of(message)
        counter = iter(range(10**9))

        async def check(payload: dict[str, Any]) -> None:
            name = f"fuzz-{next(counter)}"
            if payload.get("response_url") == "ours":
                payload = {**payload, "response_url": stack.slack.response_url(name)}
            body = urlencode({"payload": json.dumps(payload)}).encode()
            response = await stack.post(body)
            assert response.status_code < 500, (payload, response.status_code, response.text)
            ours = payload.get("response_url") == stack.slack.response_url(name)
            if response.status_code == 200 and ours:
                await answer_to(stack, name)  # the listener has finished
            assert [] == patches(sim), payload

        await drive_property(_click_payloads("ours", real_id), check, max_examples=150)
        assert [] == patches(sim)
        await stack.click(real_id, user=LEAD2, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)
        assert 1 == len(patches(sim))


def _click_body(stack: Stack, payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def _valid_click(stack: Stack, **changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": OUTSIDER},
        "team": {"id": "T111"},
        "channel": {"id": CHANNEL},
        "response_url": stack.slack.response_url("malformed"),
        "actions": [{"action_id": APPROVE_ACTION_ID, "value": "req-000000000000"}],
    }
    payload.update(changes)
    return payload


_WHY_PARSE = (  # the bug this guards against, fixed in bot/slack_http.py
    "bot/app.py handle_slack builds AsyncBoltRequest (which parses the body and extracts "
    "user/team/enterprise ids) before any signature check and outside any guard, so a "
    "malformed body from anyone answers 500 (with an aiohttp traceback at ERROR) instead of 401"
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot-json", FORM["Content-Type"]),
        (b"{not-json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"text=\xff\xfe&command=%2Fcce-upgrade", FORM["Content-Type"]),
        (urlencode({"payload": "[1, 2]"}).encode(), FORM["Content-Type"]),
        (urlencode({"payload": '"a string"'}).encode(), FORM["Content-Type"]),
        (urlencode({"payload": json.dumps({"type": "block_actions", "user": 5})}).encode(), None),
        (urlencode({"payload": json.dumps({"type": "x", "team": 5})}).encode(), None),
        (urlencode({"payload": json.dumps({"type": "x", "enterprise": 5})}).encode(), None),
        (urlencode({"payload": json.dumps({"type": "x", "authorizations": 5})}).encode(), None),
    ],
    ids=[
        "payload-not-json",
        "json-not-json",
        "json-array",
        "invalid-utf8",
        "payload-array",
        "payload-string",
        "user-int",
        "team-int",
        "enterprise-int",
        "authorizations-int",
    ],
)
async def test_malformed_unsigned_body_is_refused_401(
    stack: Stack, body: bytes, content_type: str | None
) -> None:
    """An unsigned request is refused with 401 whatever its body; nothing happens."""
    headers = {"Content-Type": content_type or FORM["Content-Type"]}
    response = await stack.http.post(events_url(stack), content=body, headers=headers)
    assert response.status_code == 401
    assert [] == stack.sim.world.calls


_WHY_SHAPE = (  # the bug this guards against, fixed in bot/slack_http.py
    "a signed block_actions whose `actions` is empty / null / not a list of objects, or whose "
    "action has no action_id, makes Bolt's listener matching raise; the bot answers 500 "
    "(expected a 4xx or a 200 with nothing done)"
)


@pytest.mark.parametrize(
    "changes",
    [
        {"actions": []},
        {"actions": None},
        {"actions": {"action_id": APPROVE_ACTION_ID}},
        {"actions": "abc"},
        {"actions": [{}]},
        {"channel": 5},
    ],
    ids=[
        "actions-empty",
        "actions-null",
        "actions-object",
        "actions-string",
        "no-action-id",
        "channel-int",
    ],
)
async def test_malformed_signed_click_is_not_a_5xx(stack: Stack, changes: dict[str, Any]) -> None:
    """A signed but malformed click changes nothing and is not answered with a server error."""
    response = await stack.post(_click_body(stack, _valid_click(stack, **changes)))
    assert response.status_code < 500
    assert [] == stack.sim.world.calls


_WHY_TIMESTAMP = (  # the bug this guards against, fixed in bot/slack_http.py
    "a non-numeric X-Slack-Request-Timestamp makes slack_sdk's SignatureVerifier raise "
    "ValueError (int('abc')); Bolt hands that to the bot's @bolt.error handler (bot/app.py "
    "on_error), which calls respond() with the response_url of the UNVERIFIED body: an "
    "unauthenticated request makes the bot POST to a URL of the sender's choosing, and the "
    "answer is 500 instead of 401"
)


@pytest.mark.parametrize("timestamp", ["abc", "", "1700000000.5"])
async def test_non_numeric_timestamp_is_401_and_posts_nothing(stack: Stack, timestamp: str) -> None:
    """Unsigned (forged signature, junk timestamp): 401, and no POST to the body's response_url."""
    url = stack.slack.response_url("attacker-chosen")
    body = slash_command_body(f"cancel prod-eu {WF_FAILED}", response_url=url)
    headers = {
        **FORM,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    response = await stack.http.post(events_url(stack), content=body, headers=headers)
    await asyncio.sleep(0.2)  # the error handler's respond() runs after the answer
    assert [] == [c.params.get("text") for c in stack.slack.calls_to("response_url")]
    assert response.status_code == 401


async def test_click_failing_right_after_ack_still_answers_200(stack: Stack) -> None:
    payload = _valid_click(stack)
    del payload["response_url"]
    started = time.monotonic()
    response = await stack.post(_click_body(stack, payload))
    assert (response.status_code, time.monotonic() - started < 1.0) == (200, True)


# -- 3. signatures --------------------------------------------------------------------------


def _headers_variant(kind: str, body: bytes, other_body: bytes) -> dict[str, str]:
    now = time.time()
    good = sign(body, SIGNING_SECRET)
    if kind == "forged":
        return {**good, "X-Slack-Signature": "v0=" + "0" * 64}
    if kind == "wrong-secret":
        return sign(body, "not-the-secret")
    if kind == "stale-301s":
        return sign(body, SIGNING_SECRET, math.floor(now) - 301)
    if kind == "future-301s":
        return sign(body, SIGNING_SECRET, math.ceil(now) + 301)
    if kind == "truncated":
        return {**good, "X-Slack-Signature": good["X-Slack-Signature"][:-1]}
    if kind == "upper-case-hex":
        return {**good, "X-Slack-Signature": good["X-Slack-Signature"].upper()}
    if kind == "v1-scheme":
        return {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]}
    if kind == "signature-missing":
        return {k: v for k, v in good.items() if k != "X-Slack-Signature"}
    if kind == "timestamp-missing":
        return {k: v for k, v in good.items() if k != "X-Slack-Request-Timestamp"}
    if kind == "other-body":
        return sign(other_body, SIGNING_SECRET)
    if kind == "other-timestamp":
        return {
            **good,
            "X-Slack-Request-Timestamp": str(int(good["X-Slack-Request-Timestamp"]) - 1),
        }
    raise AssertionError(kind)


SIGNATURE_KINDS = [
    "forged",
    "wrong-secret",
    "stale-301s",
    "future-301s",
    "truncated",
    "upper-case-hex",
    "v1-scheme",
    "signature-missing",
    "timestamp-missing",
    "other-body",
    "other-timestamp",
]


def _nothing_new(stack: Stack, slack_before: int, sim_before: int) -> None:
    assert sim_before == len(stack.sim.world.calls)
    new = stack.slack.calls[slack_before:]
    assert [] == [c.method for c in new if c.method != "auth.test"]


@pytest.mark.parametrize("kind", SIGNATURE_KINDS)
async def test_badly_signed_click_is_refused(stack: Stack, kind: str) -> None:
    """A lead's Approve click on a real pending request, with a bad signature: 401, no PATCH,
    nothing at Slack. (The same click correctly signed would cancel.)"""
    message = await open_request(stack)
    approval_id = approval_id_of(message)

    def click(user: str) -> bytes:
        return block_actions_body(
            action_id=APPROVE_ACTION_ID,
            value=approval_id,
            user_id=user,
            channel_id=CHANNEL,
            message_ts=message.ts,
            response_url=stack.slack.response_url("click"),
        )

    body, other = click(LEAD1), click(OUTSIDER)
    slack_before, sim_before = len(stack.slack.calls), len(stack.sim.world.calls)
    headers = {**_headers_variant(kind, body, other), **FORM}
    response = await stack.http.post(events_url(stack), content=body, headers=headers)
    assert response.status_code == 401
    _nothing_new(stack, slack_before, sim_before)
    assert [] == patches(stack.sim)
    # Control: the same click, signed properly, does cancel.
    assert 200 == (await stack.post(body)).status_code
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == len(patches(stack.sim))


@pytest.mark.parametrize("kind", ["future-301s", "other-body", "other-timestamp", "v1-scheme"])
async def test_badly_signed_command_is_refused(stack: Stack, kind: str) -> None:
    """The cases test_commands.py does not cover, for a slash command: 401, nothing happens."""
    url = stack.slack.response_url("cmd")
    body = slash_command_body(f"cancel prod-eu {WF_FAILED}", response_url=url)
    other = slash_command_body("help", response_url=url)
    slack_before, sim_before = len(stack.slack.calls), len(stack.sim.world.calls)
    headers = {**_headers_variant(kind, body, other), **FORM}
    response = await stack.http.post(events_url(stack), content=body, headers=headers)
    assert response.status_code == 401
    _nothing_new(stack, slack_before, sim_before)


async def test_replayed_approval_within_the_window_cancels_once(stack: Stack) -> None:
    """Slack's scheme has no nonce, so a captured click replayed within 5 minutes passes the
    signature check; it must still not cancel twice."""
    message = await open_request(stack)
    body = block_actions_body(
        action_id=APPROVE_ACTION_ID,
        value=approval_id_of(message),
        user_id=LEAD1,
        channel_id=CHANNEL,
        message_ts=message.ts,
        response_url=stack.slack.response_url("replay"),
    )
    headers = sign(body, SIGNING_SECRET)
    first = await stack.http.post(events_url(stack), content=body, headers=headers)
    assert first.status_code == 200
    await stack.slack.wait_for("chat.postMessage", count=2)
    replays = await asyncio.gather(
        *(stack.http.post(events_url(stack), content=body, headers=headers) for _ in range(3))
    )
    assert [200, 200, 200] == [r.status_code for r in replays]
    told = await stack.slack.wait_for(
        "response_url", count=3, timeout=10, predicate=lambda c: c.params["_name"] == "replay"
    )
    assert all("already" in str(c.params.get("text")) for c in told), told
    assert 1 == len(patches(stack.sim))


# -- 4. authorization -----------------------------------------------------------------------


async def test_only_approvers_approve_and_never_themselves(stack: Stack) -> None:
    """The requester (not an approver) and an outsider are refused; a lead's own request can't
    be approved by that lead; another lead's click cancels it."""
    message = await open_request(stack, user=LEAD1)
    approval_id = approval_id_of(message)
    refusals = {}
    for user in (OUTSIDER, REQUESTER, LEAD1):
        _, name = await stack.click(approval_id, user=user, message_ts=message.ts)
        refusals[user] = (await answer_to(stack, name))["text"]
    assert "not an approver" in refusals[OUTSIDER]
    assert "not an approver" in refusals[REQUESTER]
    assert "cannot approve it yourself" in refusals[LEAD1]
    assert [] == patches(stack.sim)
    await stack.click(approval_id, user=LEAD2, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert 1 == len(patches(stack.sim))
    assert f"<@{LEAD2}>" in text_of(stack.slack.message(CHANNEL, message.ts))


async def test_allow_self_approval_lets_an_approver_approve_their_own(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """With allow_self_approval: true a lead may approve their own request; a requester who is
    not an approver still may not."""
    yaml = bot_yaml(approval={"allow_self_approval": True})
    async with running_stack(sim, sqlite_url, yaml) as stack:
        own = await open_request(stack, user=REQUESTER)
        _, name = await stack.click(approval_id_of(own), user=REQUESTER, message_ts=own.ts)
        assert "not an approver" in (await answer_to(stack, name))["text"]
        lead = add_cancellable_workflow(sim)
        message = await open_request(stack, workflow_id=lead, user=LEAD1)
        await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
        await stack.slack.wait_for("chat.postMessage", count=3)  # two requests + one reply
        [patch] = patches(sim)
        assert patch.path.endswith(lead)
        assert sim.world.phase(lead) == "Cancel"
        assert sim.world.phase(WF_FAILED) != "Cancel"


async def test_channel_allow_list_applies_to_every_verb(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """cancel/status/watch/list from a channel not on the list: refused in the ack, no API
    call, nothing posted; help still answers; the same verbs work from the listed channel."""
    verbs = [
        f"cancel prod-eu {WF_FAILED} stuck",
        f"status prod-eu {WF_FAILED}",
        f"watch prod-eu {WF_FAILED}",
        "list prod-eu",
        f"list {PROD}",
        f"STATUS prod-eu {WF_FAILED.upper()}",
    ]
    async with running_stack(sim, sqlite_url, bot_yaml(channels=[CHANNEL])) as stack:
        for channel in ("C0RANDOM", "D0DIRECT", "", CHANNEL.lower()):
            for text in verbs:
                response, name = await stack.command(text, channel=channel)
                assert response.status_code == 200
                assert "not enabled in this channel" in ack_text(response), (channel, text)
        assert "cancel <cluster>" in ack_text((await stack.command("help", channel="C0X"))[0])
        assert [] == sim.world.calls
        assert [] == requests_posted(stack.slack)
        assert [] == stack.slack.responses
        for text in verbs:
            response, name = await stack.command(text, channel=CHANNEL)
            assert ack_text(response).startswith("Working on"), text
            await answer_to(stack, name)
        assert sim.world.calls


async def test_removed_group_member_is_refused_after_the_cache_lifetime(
    sim: RunningSimulator, sqlite_url: str
) -> None:
    """A member of S0SRELEADS approves; Slack then drops them from the group; once the
    directory's 2-minute cache has lapsed (injected clock, +3 min) their click is refused."""
    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    async with running_stack(sim, sqlite_url, bot_yaml(), clock=lambda: now[0]) as stack:
        stack.slack.usergroups = {"S0SRELEADS": [GROUP_LEAD]}
        first = await open_request(stack)
        await stack.click(approval_id_of(first), user=GROUP_LEAD, message_ts=first.ts)
        await stack.slack.wait_for("chat.postMessage", count=2)
        assert 1 == len(patches(sim))
        assert 1 == len(stack.slack.calls_to("usergroups.users.list"))

        stack.slack.usergroups = {"S0SRELEADS": [LEAD2]}  # GROUP_LEAD removed
        second_wf = add_cancellable_workflow(sim)
        second = await open_request(stack, workflow_id=second_wf)
        now[0] += timedelta(minutes=3)
        _, name = await stack.click(approval_id_of(second), user=GROUP_LEAD, message_ts=second.ts)
        assert "not an approver" in (await answer_to(stack, name))["text"]
        assert 2 == len(stack.slack.calls_to("usergroups.users.list"))  # asked Slack again
        assert 1 == len(patches(sim))
        assert sim.world.phase(second_wf) == "Pending"


# -- 5. API faults during the flow ----------------------------------------------------------


async def test_reread_retried_through_two_503s(stack: Stack) -> None:
    """The pre-cancel read fails twice with 503, the third read works: one PATCH, phase Cancel."""
    message = await open_request(stack)
    before = len(stack.sim.world.calls)
    stack.sim.faults.fail_next(503, count=2)
    await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert ["GET", "GET", "GET", "PATCH"] == [c.method for c in stack.sim.world.calls[before:]]
    assert 1 == len(patches(stack.sim))
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "Cancelled" in reply.text


async def test_cancel_answer_lost_is_confirmed_by_reading(stack: Stack) -> None:
    """The PATCH is applied but its connection dropped: the bot reads the workflow, finds phase
    Cancel and says so; it never sends a second PATCH."""
    message = await open_request(stack)
    before = len(stack.sim.world.calls)
    # Scripted faults apply to the next requests in order: the first one after the click is the
    # re-read (GET), which must pass, then the PATCH. A "hang" of 0 s is the simulator's
    # pass-through slot, so the drop lands exactly on the PATCH.
    stack.sim.faults.hang_seconds = 0.0
    stack.sim.faults.scripted.append(Fault("hang"))
    stack.sim.faults.drop_next(after_apply=True)
    await stack.click(approval_id_of(message), user=LEAD1, message_ts=message.ts)
    await stack.slack.wait_for("chat.postMessage", count=2)
    assert ["GET", "PATCH", "GET"] == [c.method for c in stack.sim.world.calls[before:]]
    assert 1 == len(patches(stack.sim))
    assert stack.sim.world.phase(WF_FAILED) == "Cancel"
    [reply] = stack.slack.thread(CHANNEL, message.ts)
    assert "Cancelled" in reply.text and "confirmed by reading" in reply.text
    assert "cancelled" in text_of(stack.slack.message(CHANNEL, message.ts)).lower()


# A PATCH hanging past the client's timeout is not tested here: the bot's httpx timeout is 15 s
# (bot.cce.client.default_timeout) with no override in create_app/running_stack, which would
# blow this file's time budget.
