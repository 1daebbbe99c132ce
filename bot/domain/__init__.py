"""Pure rules: approvals, cancellability, workflow snapshots and their diff, command parsing, ids,
durations. Stdlib and pydantic only: nothing here imports Slack, HTTP, SQL or the CCE client
(tests/test_layout.py keeps it so), and no clock is read (one is passed in)."""
