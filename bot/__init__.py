"""cce-upgrade-bot: cancel Huawei Cloud CCE Autopilot upgrade workflows from Slack, with approval."""

__version__ = "0.1.0"
