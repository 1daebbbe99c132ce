"""Slack plumbing: the HTTP door (signature check), posting and delivery, Block Kit and message
text, the user-group directory, scopes. It says things; it never decides anything."""
