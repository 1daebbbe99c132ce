"""Watches (SPEC §5): starting one, the poll job, and what it posts in a thread."""
