"""The stand-in's views: trigger ids, `views.open`/`.update`/`.push`/`.publish`, and what a modal
does once the app answers its submission, as Slack does it.

A trigger id is issued by `new_trigger_id`, may be exchanged once, within 3 s of its issue (by the
injected clock). Each view the bot sets is kept in `Workspace.views` with every version it set.
Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.standin.records import APP_ID, BOT_ID, TEAM_ID, Event, Params, ViewRecord
from bot.standin.view_requests import initial_values, state_values
from bot.standin.web_methods import Handler, Reply
from bot.standin.workspace import Workspace

__all__ = ["MODAL_STACK_LIMIT", "TRIGGER_LIFETIME", "Views"]

TRIGGER_LIFETIME = 3.0  # seconds within which Slack lets a trigger_id open a view
MODAL_STACK_LIMIT = 3  # views a modal may stack (views.push) before push_limit_reached


@dataclass
class _Trigger:
    issued_at: float
    user: str | None
    used: bool = False


def _invalid(message: str) -> Reply:
    return {
        "ok": False,
        "error": "invalid_arguments",
        "response_metadata": {"messages": [f"[ERROR] {message}"]},
    }


def _check(view: Any, kinds: tuple[str, ...]) -> str | None:
    """Why Slack would refuse this view object, or None: the limits that bite in practice."""
    if not isinstance(view, dict):
        return "missing required field: view"
    if view.get("type") not in kinds:
        return f"view type must be {' or '.join(kinds)}"
    blocks = view.get("blocks")
    if not isinstance(blocks, list) or len(blocks) > 100:
        return "blocks must be a list of at most 100 blocks"
    if not all(isinstance(b, dict) and b.get("type") for b in blocks):
        return "each block must be an object with a type"
    for field, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
        if len(str(view.get(field, ""))) > limit:
            return f"{field} must be at most {limit} characters"
    if view["type"] == "modal":
        for field in ("title", "submit", "close"):
            shown = view.get(field)
            if shown is None and field != "title":
                continue
            text = shown.get("text") if isinstance(shown, dict) else None
            if not isinstance(text, str) or not 1 <= len(text) <= 24:
                return f"{field} must be plain_text of 1 to 24 characters"
        if not view.get("submit") and any(b.get("type") == "input" for b in blocks):
            return "a modal with input blocks needs a submit button"
    return None


class Views:
    """Modals and Home tabs on a workspace; `clock` (seconds) decides when a trigger expires."""

    def __init__(self, workspace: Workspace, clock: Callable[[], float] = time.time) -> None:
        self._workspace = workspace
        self._clock = clock
        self._triggers: dict[str, _Trigger] = {}
        self._stacks: dict[str, list[str]] = {}  # user → their open modal's view ids, root first
        self._n = itertools.count(1)

    def handlers(self) -> dict[str, Handler]:
        return {
            "views.open": self._open,
            "views.push": self._push,
            "views.update": self._update,
            "views.publish": self._publish,
        }

    def new_trigger_id(self, user: str | None = None) -> str:
        """Issue a trigger id (for `user`, whose modal it would open), valid for 3 s, once."""
        n, now = next(self._n), self._clock()
        trigger_id = f"{n}.{int(now)}.{hashlib.sha256(f't{n}'.encode()).hexdigest()[:20]}"
        self._triggers[trigger_id] = _Trigger(now, user)
        return trigger_id

    def fill(self, view_id: str, values: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The user enters `values` ({block_id: {action_id: value}}) into the view; returns it as
        Slack puts it in an interaction payload, with everything entered so far in its state
        (over the inputs' initial values, which Slack reports as entered too)."""
        record = self._workspace.views[view_id]
        for block_id, actions in state_values(record.view, values or {}).items():
            record.values.setdefault(block_id, {}).update(actions)
        state = initial_values(record.view)
        for block_id, actions in record.values.items():
            state.setdefault(block_id, {}).update(actions)
        shown = copy.deepcopy(record.view)
        shown["state"] = {"values": copy.deepcopy(state)}
        return shown

    def apply_submission_response(self, view_id: str, status: int, body: Any) -> None:
        """Do what Slack does with the app's answer to a view_submission: nothing when it failed
        or had `response_action: errors` (the modal stays open, showing them), else update,
        push, clear the stack, or (an empty answer) close the submitted view."""
        record = self._workspace.views.get(view_id)
        if record is None or record.type != "modal" or status != 200:
            return
        answer = body if isinstance(body, dict) else {}
        action = answer.get("response_action")
        if action == "errors":
            self._event("modal errors", record, {"errors": answer.get("errors", {})})
        elif action == "update" and _check(answer.get("view"), ("modal",)) is None:
            self._replace(record, answer["view"])
        elif action == "push" and _check(answer.get("view"), ("modal",)) is None:
            if len(self._stacks.get(record.user or "", [])) < MODAL_STACK_LIMIT:
                self._stack_view(answer["view"], record.user)
        elif action == "clear":
            for open_id in self._stacks.pop(record.user or "", []):
                self._close(self._workspace.views[open_id])
        elif action is None:
            stack = self._stacks.get(record.user or "", [])
            if view_id in stack:
                stack.remove(view_id)
            self._close(record)

    # methods -------------------------------------------------------------------------------

    def _exchange(self, params: Params) -> tuple[Reply | None, str | None]:
        """(an error reply or None, the trigger's user) for the params' trigger_id."""
        trigger_id = str(params.get("trigger_id") or params.get("interactivity_pointer") or "")
        if not trigger_id:
            return _invalid("missing required field: trigger_id"), None
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}, None
        if trigger.used:
            return {"ok": False, "error": "exchanged_trigger_id"}, None
        if self._clock() - trigger.issued_at > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}, None
        trigger.used = True
        return None, trigger.user

    def _view_param(
        self, params: Params, *kinds: str, replacing: ViewRecord | None = None
    ) -> tuple[dict[str, Any], Reply | None]:
        """The params' view, or the reply refusing it (a view already open or published with
        the same external_id, other than the one being replaced, is a duplicate)."""
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                return {}, _invalid("view is not JSON")
        problem = _check(view, kinds)
        if problem is not None or not isinstance(view, dict):
            return {}, _invalid(problem or "missing required field: view")
        external_id = str(view.get("external_id", ""))
        taken = [
            r
            for r in self._workspace.views.values()
            if r.view["external_id"] == external_id and not r.closed and r is not replacing
        ]
        if external_id and taken:
            return {}, {"ok": False, "error": "duplicate_external_id"}
        return view, None

    def _open(self, params: Params) -> Reply:
        view, error = self._view_param(params, "modal")
        if error is None:
            error, user = self._exchange(params)
        if error is not None:
            return error
        self._stacks[user or ""] = []
        return {"ok": True, "view": self._stack_view(view, user).view}

    def _push(self, params: Params) -> Reply:
        view, error = self._view_param(params, "modal")
        if error is None:
            error, user = self._exchange(params)
        if error is not None:
            return error
        if len(self._stacks.get(user or "", [])) >= MODAL_STACK_LIMIT:
            return {"ok": False, "error": "push_limit_reached"}
        return {"ok": True, "view": self._stack_view(view, user).view}

    def _update(self, params: Params) -> Reply:
        view_id, external_id = str(params.get("view_id", "")), str(params.get("external_id", ""))
        if not view_id and not external_id:
            return _invalid("either view_id or external_id is required")
        found = [
            r
            for r in self._workspace.views.values()
            if (r.id == view_id if view_id else r.view["external_id"] == external_id)
            and not r.closed
        ]
        if not found:
            return {"ok": False, "error": "not_found"}
        record = found[-1]
        if params.get("hash") and str(params["hash"]) != record.hash:
            return {"ok": False, "error": "hash_conflict"}
        view, error = self._view_param(params, record.type, replacing=record)
        if error is not None:
            return error
        return {"ok": True, "view": self._replace(record, view).view}

    def _publish(self, params: Params) -> Reply:
        user_id = str(params.get("user_id", ""))
        if not user_id:
            return _invalid("missing required field: user_id")
        views = self._workspace.views.values()
        homes = [r for r in views if r.type == "home" and r.user == user_id]
        view, error = self._view_param(params, "home", replacing=homes[0] if homes else None)
        if error is not None:
            return error
        if homes:
            if params.get("hash") and str(params["hash"]) != homes[0].hash:
                return {"ok": False, "error": "hash_conflict"}
            return {"ok": True, "view": self._replace(homes[0], view).view}
        view_id = self._new_view_id()
        built = self._build(view, view_id, root_view_id=view_id, previous_view_id=None)
        record = ViewRecord(view_id, "home", user_id, built, [built])
        self._workspace.views[view_id] = record
        self._event("home published", record)
        return {"ok": True, "view": built}

    # records -------------------------------------------------------------------------------

    def _new_view_id(self) -> str:
        return f"V{next(self._n):08d}"

    def _build(
        self,
        view: dict[str, Any],
        view_id: str,
        *,
        root_view_id: str,
        previous_view_id: str | None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The view object Slack answers with: the app's fields, Slack's ids and a new hash."""
        built = copy.deepcopy(view)
        built.update(
            id=view_id,
            team_id=TEAM_ID,
            private_metadata=str(view.get("private_metadata", "")),
            callback_id=str(view.get("callback_id", "")),
            external_id=str(view.get("external_id", "")),
            state={"values": copy.deepcopy(values or {})},
            hash=f"{int(self._clock())}.{next(self._n):08x}",
            clear_on_close=bool(view.get("clear_on_close", False)),
            notify_on_close=bool(view.get("notify_on_close", False)),
            previous_view_id=previous_view_id,
            root_view_id=root_view_id,
            app_id=APP_ID,
            app_installed_team_id=TEAM_ID,
            bot_id=BOT_ID,
        )
        return built

    def _stack_view(self, view: dict[str, Any], user: str | None) -> ViewRecord:
        """A new modal view on top of `user`'s stack (the first one opens the modal)."""
        stack = self._stacks.setdefault(user or "", [])
        view_id = self._new_view_id()
        root = stack[0] if stack else view_id
        previous = stack[-1] if stack else None
        built = self._build(view, view_id, root_view_id=root, previous_view_id=previous)
        record = ViewRecord(view_id, "modal", user, built, [built])
        self._workspace.views[view_id] = record
        stack.append(view_id)
        self._event("modal opened" if previous is None else "modal pushed", record)
        return record

    def _replace(self, record: ViewRecord, view: dict[str, Any]) -> ViewRecord:
        """The bot sets a new version of a view: same id, place and (unless it sets another)
        external_id, a new hash; what the user entered stays for the blocks still there."""
        view = {"external_id": record.view["external_id"], **view}
        block_ids = {b.get("block_id") for b in view.get("blocks", [])}
        record.values = {k: v for k, v in record.values.items() if k in block_ids}
        record.view = self._build(
            view,
            record.id,
            root_view_id=str(record.view["root_view_id"]),
            previous_view_id=record.view["previous_view_id"],
            values=record.values,
        )
        record.history.append(record.view)
        self._event("home published" if record.type == "home" else "modal updated", record)
        return record

    def _close(self, record: ViewRecord) -> None:
        if not record.closed:
            record.closed = True
            self._event("modal closed", record)

    def _event(self, kind: str, record: ViewRecord, extra: dict[str, Any] | None = None) -> None:
        title = str((record.view.get("title") or {}).get("text", ""))
        blocks = list(record.view.get("blocks", []))
        details = {"view_id": record.id, "callback_id": record.callback_id, **(extra or {})}
        self._workspace.record(
            Event(kind, None, None, record.user, title, blocks, None, time.time(), details)
        )
