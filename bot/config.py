"""Configuration: the environment (SPEC §7) through pydantic-settings, plus the YAML file.

`load_config` returns one validated `Config` or raises `ConfigError` listing every problem in
plain words; `cce-upgrade-bot check` prints that list. Nothing else in the bot reads os.environ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.cce.endpoints import ClusterRef, ProjectRef, endpoint_for_region, validate_endpoint
from bot.cce.errors import CCEInvalidRequest
from bot.config_rules import (
    SlackChannelID,
    SlackUsergroupID,
    SlackUserID,
    alerts_problems,
    duration_problems,
    settings_problems,
)
from bot.domain.durations import parse_duration
from bot.domain.ids import InvalidID, validate_cluster_id, validate_project_id

__all__ = ["BotConfig", "Config", "ConfigError", "Settings", "load_config", "problems"]

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class Settings(BaseSettings):
    """The environment (and `.env`). Init kwargs override both, so tests build it directly."""

    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        # Docker/Kubernetes secrets as files named like the variables (lower case), if mounted.
        secrets_dir="/run/secrets" if Path("/run/secrets").is_dir() else None,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    cloud_sdk_ak: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CLOUD_SDK_AK", "HUAWEICLOUD_SDK_AK")
    )
    cloud_sdk_sk: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CLOUD_SDK_SK", "HUAWEICLOUD_SDK_SK")
    )
    cloud_sdk_security_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("CLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    )
    cce_auth_token: SecretStr | None = None
    cce_region: str | None = None
    cce_project_id: str | None = Field(
        default=None, validation_alias=AliasChoices("CCE_PROJECT_ID", "HUAWEICLOUD_SDK_PROJECT_ID")
    )
    cce_endpoint: str | None = None
    bot_config: Path | None = None
    database_url: str = "sqlite+aiosqlite:///cce-upgrade-bot.db"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"
    port: int = 3000
    ops_port: int = 9090  # /healthz, /readyz, /metrics: never on the Slack port
    metrics_token: SecretStr | None = None  # bearer token /metrics asks for, when set


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterConfig(_Strict):
    cluster_id: str
    project_id: str | None = None
    region: str | None = None
    endpoint: str | None = None

    @field_validator("cluster_id")
    @classmethod
    def _cluster(cls, value: str) -> str:
        return validate_cluster_id(value)

    @field_validator("project_id")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        return None if value is None else validate_project_id(value)


class ProjectConfig(_Strict):
    """A project whose clusters the bot finds by name through the API (SPEC §2.1)."""

    project_id: str
    region: str | None = None
    endpoint: str | None = None

    @field_validator("project_id")
    @classmethod
    def _project(cls, value: str) -> str:
        return validate_project_id(value)


class Approvers(_Strict):
    users: list[SlackUserID] = Field(default_factory=list)
    usergroups: list[SlackUsergroupID] = Field(default_factory=list)


class ApprovalConfig(_Strict):
    required: int = Field(default=1, ge=1, le=10)
    allow_self_approval: bool = False
    expires_after: Duration = timedelta(minutes=30)


class WatchConfig(_Strict):
    interval: Duration = timedelta(seconds=10)
    max_duration: Duration = timedelta(hours=3)
    outage_warning_after: Duration = timedelta(minutes=5)
    # While a task runs or a Rollback is expected, polls come this often (SPEC §5).
    fast_interval: Duration = timedelta(seconds=2)
    # A Rollback listed after a cancel that has not started by then is not coming.
    rollback_grace: Duration = timedelta(minutes=10)
    concurrency: int = Field(default=20, ge=1, le=500)


class AlertsConfig(_Strict):
    """SPEC §10.3: where and how often the bot looks for failed or stalled upgrades."""

    channel: SlackChannelID
    interval: Duration = timedelta(minutes=1)
    stalled_after: Duration = timedelta(minutes=45)
    clusters: list[str] | None = None  # aliases, names or ids; None: every cluster it can see


class CCEConfig(_Strict):
    """The API client: request budget, cluster-list cache, and a private CA."""

    max_requests_per_second: float = Field(default=20.0, gt=0, le=1000)
    cluster_cache: Duration = timedelta(minutes=5)
    ca_bundle: Path | None = None


class RecoveryConfig(_Strict):
    """SPEC §5a: how long work waits for a dead owner, and when stuck work is given up."""

    give_up_after: Duration = timedelta(hours=1)
    # A process renews its lease on work it is doing (a third of this apart); another process
    # takes the work over once the lease has lapsed, so after a kill the flow goes on within it.
    lease: Duration = timedelta(seconds=10)


class BotConfig(_Strict):
    """The YAML file of SPEC §7."""

    projects: list[ProjectConfig] = Field(default_factory=list)
    clusters: dict[str, ClusterConfig] = Field(default_factory=dict)
    approvers: Approvers = Field(default_factory=Approvers)
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    channels: list[SlackChannelID] | None = None
    watch: WatchConfig = Field(default_factory=WatchConfig)
    alerts: AlertsConfig | None = None
    cce: CCEConfig = Field(default_factory=CCEConfig)
    recovery: RecoveryConfig = Field(default_factory=RecoveryConfig)


class ConfigError(Exception):
    """Every problem found, each a plain sentence."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    """Settings and the YAML config, validated together; resolves cluster names to refs."""

    settings: Settings
    bot: BotConfig
    # Keys of an older release that are accepted but no longer used, each with what replaced it.
    notes: tuple[str, ...] = ()

    def cluster(self, name: str) -> tuple[str | None, ClusterRef]:
        """Resolve an alias, or a raw cluster id when a default project is set.

        Returns (alias or None, ClusterRef); raises LookupError with a readable message.
        """
        entry = self.bot.clusters.get(name)
        if entry is not None:
            return name, self._ref(entry)
        try:
            cluster_id = validate_cluster_id(name)
        except InvalidID:
            known = ", ".join(sorted(self.bot.clusters)) or "none configured"
            raise LookupError(f"Unknown cluster `{name}` (known aliases: {known})") from None
        for alias, item in self.bot.clusters.items():
            if item.cluster_id == cluster_id:
                return alias, self._ref(item)
        if not self.settings.cce_project_id:
            raise LookupError(
                f"Cluster `{name}` is not a configured alias, and raw cluster ids need "
                "CCE_PROJECT_ID to be set"
            )
        return None, self._ref(ClusterConfig(cluster_id=cluster_id))

    def alias_refs(self) -> dict[str, ClusterRef]:
        """The `clusters:` aliases, each with its project and endpoint (for ClusterDirectory)."""
        return {alias: self._ref(entry) for alias, entry in self.bot.clusters.items()}

    def project_refs(self) -> list[ProjectRef]:
        """The `projects:` whose clusters are found by name, each with its endpoint."""
        refs = []
        for entry in self.bot.projects:
            endpoint = self._endpoint(entry.endpoint, entry.region)
            if endpoint is None:
                raise LookupError(f"Project `{entry.project_id}` has no region or endpoint")
            refs.append(ProjectRef(entry.project_id, endpoint))
        return refs

    def default_project(self) -> ProjectRef | None:
        """CCE_PROJECT_ID with CCE_ENDPOINT or CCE_REGION, when both are set."""
        endpoint = self._endpoint(None, None)
        project = self.settings.cce_project_id
        return None if project is None or endpoint is None else ProjectRef(project, endpoint)

    def _endpoint(self, endpoint: str | None, region: str | None) -> str | None:
        """An entry's own endpoint or region, else the global CCE_ENDPOINT or CCE_REGION."""
        return (
            endpoint
            or (endpoint_for_region(region) if region else None)
            or self.settings.cce_endpoint
            or (endpoint_for_region(self.settings.cce_region) if self.settings.cce_region else None)
        )

    def _ref(self, entry: ClusterConfig) -> ClusterRef:
        project = entry.project_id or self.settings.cce_project_id
        endpoint = self._endpoint(entry.endpoint, entry.region)
        if project is None or endpoint is None:
            raise LookupError(f"Cluster `{entry.cluster_id}` has no project id or no endpoint")
        return ClusterRef(project, entry.cluster_id, endpoint)


def _pydantic_problems(exc: ValidationError, prefix: str) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            out.append(f"{prefix}{where}: unknown key")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            out.append(f"{prefix}{where}: {msg}")
    return out


def _read_yaml(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return {}, [f"config file {path}: cannot be read ({exc.strerror or exc})"]
    except yaml.YAMLError as exc:
        return {}, [f"config file {path}: not valid YAML ({exc})"]
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"config file {path}: expected a mapping at the top level"]
    return raw, []


def _location_problems(
    where: str, endpoint: str | None, region: str | None, s: Settings
) -> list[str]:
    """A cluster's or project's endpoint and region, each valid when given, and one of them
    known here or from the environment."""
    problems = []
    for label, fn, value in (
        ("endpoint", validate_endpoint, endpoint),
        ("region", endpoint_for_region, region),
    ):
        if value is not None:
            try:
                fn(value)
            except CCEInvalidRequest as exc:
                problems.append(f"{where}.{label}: {exc}")
    if not (endpoint or region or s.cce_endpoint or s.cce_region):
        problems.append(
            f"{where}: no region or endpoint, and neither CCE_REGION nor CCE_ENDPOINT is set"
        )
    return problems


def _semantic_problems(
    settings: Settings, bot: BotConfig, mode: str, *, file_ok: bool = True
) -> list[str]:
    problems: list[str] = []
    s = settings
    has_aksk = s.cloud_sdk_ak is not None and s.cloud_sdk_sk is not None
    if (s.cloud_sdk_ak is None) != (s.cloud_sdk_sk is None):
        problems.append("CLOUD_SDK_AK and CLOUD_SDK_SK must be set together")
    if not has_aksk and s.cce_auth_token is None:
        problems.append("no CCE credentials: set CLOUD_SDK_AK and CLOUD_SDK_SK, or CCE_AUTH_TOKEN")
    if mode == "run":
        if s.slack_bot_token is None:
            problems.append("SLACK_BOT_TOKEN is not set")
        if s.slack_app_token is None and s.slack_signing_secret is None:
            problems.append("SLACK_SIGNING_SECRET is required in HTTP mode (no SLACK_APP_TOKEN)")
    if s.cce_project_id is not None:
        try:
            validate_project_id(s.cce_project_id)
        except InvalidID as exc:
            problems.append(f"CCE_PROJECT_ID: {exc}")
    for label, fn, value in (
        ("CCE_ENDPOINT", validate_endpoint, s.cce_endpoint),
        ("CCE_REGION", endpoint_for_region, s.cce_region),
    ):
        if value is not None:
            try:
                fn(value)
            except CCEInvalidRequest as exc:
                problems.append(f"{label}: {exc}")
    for alias, entry in bot.clusters.items():
        if entry.project_id is None and s.cce_project_id is None:
            problems.append(f"clusters.{alias}: no project_id, and CCE_PROJECT_ID is not set")
        problems += _location_problems(f"clusters.{alias}", entry.endpoint, entry.region, s)
    for index, project in enumerate(bot.projects):
        where = f"projects[{index}] ({project.project_id})"
        problems += _location_problems(where, project.endpoint, project.region, s)
    if file_ok and not bot.approvers.users and not bot.approvers.usergroups:
        problems.append("approvers: no users or usergroups listed, so nobody could approve")
    problems += settings_problems(s, http_mode=s.slack_app_token is None)
    return problems


def _sections_that_parse(raw: dict[str, Any], exc: ValidationError) -> BotConfig | None:
    """The file without its broken sections, so the rules still check every other one."""
    broken = {err["loc"][0] for err in exc.errors() if err["loc"]}
    try:
        return BotConfig.model_validate({k: v for k, v in raw.items() if k not in broken})
    except ValidationError:
        return None


def load_config(settings: Settings | None = None, *, mode: str = "run") -> Config:
    """Validate the environment and the YAML file together; raise ConfigError listing all."""
    problems: list[str] = []
    if settings is None:
        try:
            settings = Settings()
        except ValidationError as exc:
            raise ConfigError(_pydantic_problems(exc, "environment: ")) from None
    path = settings.bot_config
    if path is None and Path("cce-upgrade-bot.yaml").exists():
        path = Path("cce-upgrade-bot.yaml")
    raw: dict[str, Any] = {}
    if path is not None:
        raw, file_problems = _read_yaml(path)
        problems += file_problems
    notes = _retired_keys(raw)
    try:
        bot: BotConfig | None = BotConfig.model_validate(raw)
        parsed = bot
    except ValidationError as exc:
        problems += _pydantic_problems(exc, "config: ")
        bot = None
        parsed = _sections_that_parse(raw, exc)
    problems += _semantic_problems(settings, bot or BotConfig(), mode, file_ok=bot is not None)
    problems += duration_problems(parsed) if parsed is not None else []
    problems += alerts_problems(parsed) if parsed is not None else []
    if problems or bot is None:
        raise ConfigError(problems)
    return Config(settings, bot, tuple(notes))


# Keys release 0.1.0 read, and why they are gone: a lease in the store replaced the timers.
RETIRED = {
    ("approval", "recover_unsent_after"): "an approved cancel a crash left unsent is sent once "
    "its lease (recovery.lease) lapses",
    ("approval", "settle_after"): "a cancel whose answer a crash lost is settled once its lease "
    "(recovery.lease) lapses",
    ("watch", "lease"): "watches are leased for recovery.lease, renewed while they are polled",
}


def _retired_keys(raw: dict[str, Any]) -> list[str]:
    """Take the retired keys out of the raw YAML, with a note for each (not a problem)."""
    notes = []
    for (section, key), why in RETIRED.items():
        part = raw.get(section)
        if isinstance(part, dict) and key in part:
            part.pop(key)
            notes.append(f"{section}.{key} is no longer used ({why}); remove it")
    return notes


def problems(settings: Settings | None = None, *, mode: str = "run") -> list[str]:
    """The list `cce-upgrade-bot check` prints; empty when the configuration is good."""
    try:
        load_config(settings, mode=mode)
    except ConfigError as exc:
        return exc.problems
    return []
