"""The help text, shown for `help` and after every usage error."""

from __future__ import annotations

USAGE = """*`/cce-upgrade` — cancel a CCE Autopilot cluster upgrade, with a lead's approval*
• `/cce-upgrade` (or `cancel` alone) — a form: pick the cluster, its workflow, give a reason
• `/cce-upgrade cancel <cluster> [<workflow>] [reason…]` — ask to cancel an upgrade (posts an approval request here)
• `/cce-upgrade status <cluster> [<workflow>]` — phase, versions and task timeline (only you see it)
• `/cce-upgrade list <cluster>` — the cluster's upgrade workflows, newest first (only you see it)
• `/cce-upgrade watch <cluster> [<workflow>]` — follow a workflow's progress in a thread
• `/cce-upgrade clusters` — the clusters the bot can see: name, id, project, version, phase
• `/cce-upgrade help` — this text
`<cluster>` is the cluster's name (or an alias from the bot's config, or its id). Leave `<workflow>` out and the bot takes the cluster's upgrade that is in progress (it asks when there are several); give it as the workflow id (a UUID) otherwise.
Example: `/cce-upgrade cancel prod-eu node pool stuck after the upgrade`"""  # noqa: E501
