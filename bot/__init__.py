"""cce-upgrade-bot: cancel CCE Autopilot upgrade workflows from Slack, with approval."""

__version__ = "0.1.0"
