"""Prometheus metrics for `GET /metrics` (served by `bot.ops`), on a registry of the app's own
(not the global one), so two bots in one process (tests, the demo) never share counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "cce_bot_commands",
            "Slash commands by kind and outcome",
            ["command", "outcome"],
            registry=r,
        )
        self.approvals = Counter(
            "cce_bot_approvals", "Approval decisions by outcome", ["outcome"], registry=r
        )
        self.cancels = Counter(
            "cce_bot_cancel_calls", "Cancel calls sent to CCE by result", ["result"], registry=r
        )
        self.api_latency = Histogram(
            "cce_bot_api_request_seconds",
            "CCE API request latency by operation",
            ["operation"],
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.api_responses = Counter(
            "cce_bot_api_responses",
            "CCE API answers by status",
            ["operation", "status"],
            registry=r,
        )
        self.open_watches = Gauge("cce_bot_open_watches", "Watches still open", registry=r)
        self.poll_errors = Counter("cce_bot_poll_errors", "Failed workflow polls", registry=r)
        self.budget_waiting_now = Gauge(
            "cce_bot_budget_waiting",
            "CCE requests waiting for the request budget right now",
            registry=r,
        )
        self.budget_wait = Histogram(
            "cce_bot_budget_wait_seconds",
            "How long CCE requests waited for the request budget, by priority",
            ["priority"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.slack_errors = Counter(
            "cce_bot_slack_api_errors", "Slack Web API errors", ["method", "error"], registry=r
        )
        self.deliveries = Counter(
            "cce_bot_slack_deliveries",
            "Keyed Slack posts by outcome (sent, found after a lost answer, repeated, refused, "
            "uncertain)",
            ["outcome"],
            registry=r,
        )
        self.alerts = Counter(
            "cce_bot_alerts",
            "Alerts posted by condition (failed, stalled)",
            ["condition"],
            registry=r,
        )
        self.given_up = Counter(
            "cce_bot_recovery_given_up",
            "Request work given up after recovery.give_up_after, by what was left",
            ["work"],
            registry=r,
        )

    def command(self, command: str, outcome: str) -> None:
        self.commands.labels(command, outcome).inc()

    def approval(self, outcome: str) -> None:
        self.approvals.labels(outcome).inc()

    def cancel(self, result: str) -> None:
        self.cancels.labels(result).inc()

    def api_call(self, operation: str, status: int | None, seconds: float) -> None:
        self.api_latency.labels(operation).observe(seconds)
        self.api_responses.labels(operation, str(status) if status else "error").inc()

    def budget_waiting(self, count: int) -> None:
        """`bot.cce.budget.BudgetObserver`: requests waiting for the budget."""
        self.budget_waiting_now.set(count)

    def budget_waited(self, priority: str, seconds: float) -> None:
        """`bot.cce.budget.BudgetObserver`: one request's wait (0 when it went at once)."""
        self.budget_wait.labels(priority).observe(seconds)

    def poll_error(self) -> None:
        self.poll_errors.inc()

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method, error[:40]).inc()

    def watches_open(self, count: int) -> None:
        """Set before a scrape (`bot.ops`), from the database: watches are rows, not events."""
        self.open_watches.set(count)

    def delivery(self, outcome: str) -> None:
        self.deliveries.labels(outcome).inc()

    def alert(self, condition: str) -> None:
        self.alerts.labels(condition).inc()

    def gave_up(self, work: str) -> None:
        self.given_up.labels(work).inc()
