"""Pydantic wire models for the CCE Autopilot upgrade-workflow API.

They parse what the API sends without being brittle: optional fields may be absent (a task that
has not started carries only its `taskType`), unknown fields are kept, phases and statuses are
open strings (known values are listed in the enums below), and timestamps in the API's own Go
format become aware datetimes while anything else is kept as text.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

__all__ = [
    "APITime",
    "Cluster",
    "ClusterList",
    "ClusterMetadata",
    "ClusterPhase",
    "ClusterSpec",
    "ClusterStatus",
    "ErrorBody",
    "LineStatus",
    "Metadata",
    "Point",
    "PointStatus",
    "TaskStatus",
    "TaskType",
    "WorkflowCreate",
    "WorkflowItems",
    "WorkflowList",
    "WorkflowPhase",
    "WorkflowSpec",
    "WorkflowStatus",
    "WorkflowTask",
    "WorkflowUpdate",
    "WorkflowUpdateStatus",
    "format_api_time",
    "parse_api_time",
]


class WorkflowPhase(StrEnum):
    """Documented values of `status.phase`; the field itself stays an open string."""

    INIT = "Init"
    RUNNING = "Running"
    PENDING = "Pending"
    SUCCESS = "Success"
    CANCEL = "Cancel"


class TaskType(StrEnum):
    """Documented values of `taskType`."""

    PRE_CHECK = "PreCheck"
    SNAPSHOT = "Snapshot"
    CLUSTER = "Cluster"
    POST_CHECK = "PostCheck"
    ROLLBACK = "Rollback"


class TaskStatus(StrEnum):
    """Values a task's `status` may hold (documented ones plus `Pause`/`Queue` from the rules)."""

    INIT = "Init"
    QUEUING = "Queuing"
    QUEUE = "Queue"
    RUNNING = "Running"
    PAUSE = "Pause"
    SUCCESS = "Success"
    FAILED = "Failed"


# The API prints Go's time.Time.String(): "2023-11-25 07:20:04.592972 +0000 UTC".
_GO_TIME = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2}) (?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?:\.(?P<frac>\d{1,9}))?"
    r" (?P<sign>[+-])(?P<hh>\d{2})(?P<mm>\d{2})(?: (?P<zone>[A-Za-z][A-Za-z0-9+-]*))?"
)


def parse_api_time(value: object) -> object:
    """Turn an API timestamp into an aware datetime; leave anything else untouched."""
    if not isinstance(value, str):
        return value
    match = _GO_TIME.fullmatch(value.strip())
    if match is None:
        return value
    offset = timedelta(hours=int(match["hh"]), minutes=int(match["mm"]))
    if match["sign"] == "-":
        offset = -offset
    # Built from the digits directly: strptime was a tenth of a workflow read's CPU.
    micro = int((match["frac"] or "").ljust(6, "0")[:6])
    try:
        return datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
            micro,
            tzinfo=timezone(offset),
        )
    except ValueError:  # e.g. month 13: not a time, keep the text
        return value


def format_api_time(value: datetime | str) -> str:
    """Write a datetime back in the API's format (text values pass through unchanged)."""
    if isinstance(value, str):
        return value
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    text = aware.strftime("%Y-%m-%d %H:%M:%S")
    if aware.microsecond:
        text += f".{aware.microsecond:06d}".rstrip("0")
    offset = aware.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    zone = "UTC" if minutes == 0 else f"{sign}{hh:02d}{mm:02d}"
    return f"{text} {sign}{hh:02d}{mm:02d} {zone}"


APITime = Annotated[
    datetime | str,
    BeforeValidator(parse_api_time),
    PlainSerializer(format_api_time, return_type=str),
]
"""A timestamp: an aware datetime when the API used its usual format, else the text as sent."""


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        serialize_by_alias=True,
    )


class Metadata(_Wire):
    uid: str | None = None
    name: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    update_timestamp: APITime | None = None
    creation_timestamp: APITime | None = None


class WorkflowSpec(_Wire):
    cluster_id: str | None = Field(default=None, alias="clusterID")
    cluster_version: str | None = None
    target_version: str | None = None


class Point(_Wire):
    task_type: str | None = None


class PointStatus(_Wire):
    """One task of the workflow; only `taskType` is present before it starts."""

    task_type: str | None = None
    task_id: str | None = Field(default=None, alias="taskID")
    status: str | None = None
    start_time_stamp: APITime | None = None
    end_time_stamp: APITime | None = None
    expire_time_stamp: APITime | None = None


class LineStatus(_Wire):
    """An edge of the task graph. `critical` is a bool in the SDK and a string in the docs."""

    start_point: Point | None = None
    end_point: Point | None = None
    critical: bool | str | None = None

    @property
    def is_critical(self) -> bool:
        if isinstance(self.critical, bool):
            return self.critical
        return isinstance(self.critical, str) and self.critical.strip().lower() == "true"


class WorkflowStatus(_Wire):
    phase: str | None = None
    point_statuses: list[PointStatus] = Field(default_factory=list)
    line_statuses: list[LineStatus] = Field(default_factory=list)


class WorkflowTask(_Wire):
    """An upgrade workflow (`WorkFlowTask`), as show, list, create and update return it."""

    kind: str = "WorkFlowTask"
    api_version: str = "v3"
    metadata: Metadata = Field(default_factory=Metadata)
    spec: WorkflowSpec = Field(default_factory=WorkflowSpec)
    status: WorkflowStatus = Field(default_factory=WorkflowStatus)

    @property
    def workflow_id(self) -> str | None:
        return self.metadata.uid

    def task(self, task_type: str) -> PointStatus | None:
        """The point for `task_type` (case-insensitive), if the workflow has one."""
        wanted = task_type.lower()
        for point in self.status.point_statuses:
            if (point.task_type or "").lower() == wanted:
                return point
        return None


class WorkflowItems(BaseModel):
    """The list answer with its items not yet validated (see `CCEClient.list_workflow_items`)."""

    items: list[dict[str, Any]] = Field(default_factory=list)


class WorkflowList(_Wire):
    kind: str = "List"
    api_version: str = "v3"
    items: list[WorkflowTask] = Field(default_factory=list)


class WorkflowUpdateStatus(_Wire):
    phase: str


class WorkflowUpdate(_Wire):
    """The update (cancel) body: `{"status": {"phase": "Cancel"}}`, the only value supported."""

    status: WorkflowUpdateStatus

    @classmethod
    def cancel(cls) -> WorkflowUpdate:
        return cls(status=WorkflowUpdateStatus(phase=WorkflowPhase.CANCEL.value))


class WorkflowCreate(_Wire):
    """The create body (`CreateUpgradeWorkFlowRequestBody`)."""

    kind: str = "WorkFlowTask"
    api_version: str = "v3"
    spec: WorkflowSpec


class ClusterPhase(StrEnum):
    """Documented values of an AutopilotCluster's `status.phase`; the field stays open."""

    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"
    CREATING = "Creating"
    DELETING = "Deleting"
    UPGRADING = "Upgrading"
    ROLLING_BACK = "RollingBack"
    ROLLBACK_FAILED = "RollbackFailed"
    ERROR = "Error"


class ClusterMetadata(_Wire):
    uid: str | None = None
    name: str | None = None
    alias: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    creation_timestamp: APITime | None = None
    update_timestamp: APITime | None = None


class ClusterSpec(_Wire):
    version: str | None = None
    platform_version: str | None = None
    category: str | None = None
    type: str | None = None
    flavor: str | None = None
    description: str | None = None


class ClusterStatus(_Wire):
    phase: str | None = None
    job_id: str | None = Field(default=None, alias="jobID")
    reason: str | None = None
    message: str | None = None


class Cluster(_Wire):
    """An AutopilotCluster, as ListAutopilotClusters and ShowAutopilotCluster return it."""

    kind: str = "Cluster"
    api_version: str = "v3"
    metadata: ClusterMetadata = Field(default_factory=ClusterMetadata)
    spec: ClusterSpec = Field(default_factory=ClusterSpec)
    status: ClusterStatus = Field(default_factory=ClusterStatus)

    @property
    def cluster_id(self) -> str | None:
        return self.metadata.uid

    @property
    def name(self) -> str | None:
        return self.metadata.name


class ClusterList(_Wire):
    kind: str = "List"
    api_version: str = "v3"
    items: list[Cluster] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The API's error body; CCE's client also reads `errorCode`/`errorMessage` and `message`."""

    model_config = ConfigDict(extra="allow")

    error_code: str | None = None
    error_msg: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> ErrorBody:
        if not isinstance(data, dict):
            return cls()
        code = data.get("error_code", data.get("errorCode"))
        msg = data.get("error_msg", data.get("errorMessage"))
        message = data.get("message")
        if isinstance(message, str) and message and message != msg:
            msg = f"{msg}, {message}" if msg else message
        return cls(
            error_code=str(code) if code is not None else None,
            error_msg=str(msg) if msg is not None else None,
        )
