"""The offline demo runs the real flow and prints the conversation a person would read."""

from __future__ import annotations

import io

from bot.demo import run_demo


async def test_demo_goes_through_and_prints_the_conversation() -> None:
    """Exit 0, the workflow ends in Cancel, and the transcript shows each step and the thread."""
    out = io.StringIO()
    assert 0 == await run_demo(out=out)
    text = out.getvalue()
    expected_in_order = [
        "alice (on call) ▸ /cce-upgrade cancel prod-eu node pool stuck",  # by name, no UUID
        "CANCEL THIS CCE UPGRADE?",
        "Workflow: 8a1d4e2f-6b3c-4f7a-9e1d-2c5b8a7f3e01",  # found for her
        "[ Approve cancel ]  [ Reject ]",
        "(only alice sees) Approval request",
        "bob ▸ clicks [ Approve cancel ]",
        "(only bob sees) You are not an approver",
        "carol (SRE lead) ▸ opens the bot's Home tab",
        "(carol's Home tab)",
        "WAITING FOR APPROVAL (1)",
        "carol (SRE lead) ▸ clicks [ Approve cancel ] there",
        "CCE UPGRADE CANCELLED",
        "↳ 🛑 Cancelled. Approved by @carol",
        "↳ 🔄 Rollback: not started → Running",
        "↳ ✅ Rollback: Running → Success",
        "↳ 🏁 The workflow has settled in phase Cancel",
        "demo OK: the simulator's workflow is in phase Cancel, 1 cancel call(s)",
    ]
    position = 0
    for piece in expected_in_order:
        found = text.find(piece, position)
        assert found >= 0, f"{piece!r} missing (or out of order) in:\n{text}"
        position = found
    assert "Traceback" not in text
    assert "(publishes carol's Home tab again" in text
