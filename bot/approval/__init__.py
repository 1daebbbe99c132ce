"""The cancel-with-approval use case (SPEC §3): opening a request, decisions, sending the cancel,
recovery, and the read-only queries."""
