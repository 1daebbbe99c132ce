"""Build the requests Slack sends about a modal or Home tab view: `view_submission`,
`block_suggestion` (options for an external select) and `block_actions` inside a view.

Values are given simply, {block_id: {action_id: value}}, and turned into the element state Slack
reports for the element's type, found in the view's blocks: a string is an input's `value`, a
select's option (looked up among its options by value), a user select's `selected_user`, ...
Each `*_payload` is what a Socket Mode `interactive` envelope carries; each `*_body` its
form-encoded HTTP twin. Imports nothing from the rest of the bot.
"""

from __future__ import annotations

import copy
from typing import Any

from bot.standin.records import APP_ID, TEAM_ID
from bot.standin.slack_requests import action_ts, form_body, local_trigger_id, user_object

__all__ = [
    "block_suggestion_body",
    "block_suggestion_payload",
    "element_state",
    "find_element",
    "initial_values",
    "option",
    "state_values",
    "view_block_actions_body",
    "view_block_actions_payload",
    "view_submission_body",
    "view_submission_payload",
]

_ONE_OPTION = {"static_select", "external_select", "radio_buttons"}
_OPTIONS = {"multi_static_select", "multi_external_select", "checkboxes"}
_PICKED = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
    "datetimepicker": "selected_date_time",
}


def option(value: str, text: str | None = None) -> dict[str, Any]:
    """A Block Kit option object."""
    return {"text": {"type": "plain_text", "text": text or value, "emoji": True}, "value": value}


def find_element(view: dict[str, Any], block_id: str, action_id: str) -> dict[str, Any] | None:
    """The interactive element `action_id` of block `block_id` in `view`, if it has one."""
    for block in view.get("blocks") or []:
        if block.get("block_id") != block_id:
            continue
        found = [block.get("element"), block.get("accessory"), *(block.get("elements") or [])]
        for element in found:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return element
    return None


def _as_option(element: dict[str, Any] | None, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    groups = (element or {}).get("option_groups") or []
    known = [*((element or {}).get("options") or []), *(o for g in groups for o in g["options"])]
    return next((o for o in known if o.get("value") == str(value)), option(str(value)))


def element_state(element: dict[str, Any] | None, value: Any) -> dict[str, Any]:
    """What Slack reports in `state.values` for `element` holding `value`.

    Without the element: a dict is a static select's option, a list a multi-select's options,
    anything else a plain-text input's value.
    """
    if element is not None:
        kind = str(element.get("type"))
    elif isinstance(value, dict):
        kind = "static_select"
    else:
        kind = "multi_static_select" if isinstance(value, list) else "plain_text_input"
    if kind in _ONE_OPTION:
        return {"type": kind, "selected_option": _as_option(element, value)}
    if kind in _OPTIONS:
        return {"type": kind, "selected_options": [_as_option(element, v) for v in value]}
    if kind in _PICKED:
        return {"type": kind, _PICKED[kind]: value}
    return {"type": kind, "value": value}


_INITIAL = {
    "initial_option": "selected_option",
    "initial_options": "selected_options",
    "initial_value": "value",
    "initial_user": "selected_user",
    "initial_users": "selected_users",
    "initial_conversation": "selected_conversation",
    "initial_channel": "selected_channel",
    "initial_date": "selected_date",
    "initial_time": "selected_time",
}


def initial_values(view: dict[str, Any]) -> dict[str, Any]:
    """What `view.state.values` reports before the user changes anything: each input's
    element with an `initial_*` value (Slack reports those as entered)."""
    found: dict[str, Any] = {}
    for block in view.get("blocks") or []:
        element = block.get("element") if block.get("type") == "input" else None
        if not isinstance(element, dict) or "action_id" not in element:
            continue
        state = {
            shown: element[initial] for initial, shown in _INITIAL.items() if initial in element
        }
        if state:
            entry = {"type": element.get("type"), **state}
            found.setdefault(str(block.get("block_id", "")), {})[element["action_id"]] = entry
    return found


def state_values(view: dict[str, Any], values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """{block_id: {action_id: value}} as `view.state.values`, each value typed by its element."""
    return {
        block_id: {
            action_id: element_state(find_element(view, block_id, action_id), value)
            for action_id, value in actions.items()
        }
        for block_id, actions in values.items()
    }


def _shown(view: dict[str, Any], values: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """A copy of `view` with `values` entered, over the state it already reports."""
    shown = copy.deepcopy(view)
    state = shown.setdefault("state", {}).setdefault("values", {})
    for block_id, actions in state_values(view, values or {}).items():
        state.setdefault(block_id, {}).update(actions)
    return shown


def _common(view: dict[str, Any], user_id: str, team_id: str, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "team": {"id": team_id, "domain": "acme"},
        "user": user_object(user_id, team_id),
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "enterprise": None,
        "is_enterprise_install": False,
        "view": view,
    }


def view_submission_payload(
    *,
    view: dict[str, Any],
    user_id: str,
    values: dict[str, dict[str, Any]] | None = None,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """The user presses the modal's submit button: `view` (as `views.open` answered it, or
    `FakeSlack.fill_view(...)`), with `values` entered over the state it reports."""
    payload = _common(_shown(view, values), user_id, team_id, "view_submission")
    payload["trigger_id"] = trigger_id if trigger_id is not None else local_trigger_id()
    payload["response_urls"] = []
    return payload


def block_suggestion_payload(
    *,
    view: dict[str, Any],
    action_id: str,
    block_id: str,
    value: str,
    user_id: str,
    team_id: str = TEAM_ID,
) -> dict[str, Any]:
    """The user types `value` into an external select: Slack asks the app for its options."""
    payload = _common(view, user_id, team_id, "block_suggestion")
    payload.update(
        action_id=action_id,
        block_id=block_id,
        value=value,
        container={"type": "view", "view_id": view.get("id", "")},
    )
    return payload


def view_block_actions_payload(
    *,
    view: dict[str, Any],
    action_id: str,
    block_id: str,
    value: Any,
    user_id: str,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """The user clicks a button (`value` its value) or picks `value` in a select inside a view.
    Without the element in the view's blocks, a string `value` is a button's.

    As Slack sends it: container type `view`, the view with the pick in its state, and no
    `channel`, `message` or `response_url`.
    """
    element = find_element(view, block_id, action_id)
    is_button = element.get("type") == "button" if element else isinstance(value, str)
    if is_button:
        text = (element or {}).get("text") or {"type": "plain_text", "text": action_id}
        action: dict[str, Any] = {"type": "button", "value": value, "text": text}
        shown = copy.deepcopy(view)
    else:
        action = element_state(element, value)
        shown = _shown(view, {block_id: {action_id: value}})
    action.update(action_id=action_id, block_id=block_id, action_ts=action_ts())
    payload = _common(shown, user_id, team_id, "block_actions")
    payload.update(
        container={"type": "view", "view_id": view.get("id", "")},
        trigger_id=trigger_id if trigger_id is not None else local_trigger_id(),
        actions=[action],
    )
    return payload


view_submission_body = form_body(view_submission_payload)
block_suggestion_body = form_body(block_suggestion_payload)
view_block_actions_body = form_body(view_block_actions_payload)
