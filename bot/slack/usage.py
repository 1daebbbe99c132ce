"""The help text, shown for `help`, an empty command, and after every usage error."""

from __future__ import annotations

USAGE = """*`/cce-upgrade` — cancel a CCE Autopilot cluster upgrade, with a lead's approval*
• `/cce-upgrade cancel <cluster> <workflow> [reason…]` — ask to cancel an upgrade workflow (posts an approval request here)
• `/cce-upgrade status <cluster> <workflow>` — phase, versions and task timeline (only you see it)
• `/cce-upgrade list <cluster>` — the cluster's upgrade workflows, newest first (only you see it)
• `/cce-upgrade watch <cluster> <workflow>` — follow a workflow's progress in a thread
• `/cce-upgrade help` — this text
`<cluster>` is an alias from the bot's config (or a cluster id); `<workflow>` is the upgrade workflow id (a UUID).
Example: `/cce-upgrade cancel prod-eu d0b7e319-8172-424c-86ea-543cd23f9756 node pool stuck`"""  # noqa: E501
