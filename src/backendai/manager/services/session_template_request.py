"""What ``POST /session/_/create-from-template`` accepts (API_CONTRACT §2.11).

Every field but ``template_id`` is optional: what the request leaves out comes from the
template. Client 20.9.9 sends options the user did not give as the literal string
``"Undefined.token"`` (click stringifies its sentinel); that string means "not given" here, in
any field, rather than an image or an access key of that name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backendai.common.session_request import (
    MAX_MOUNTS,
    MAX_PREOPEN_PORTS,
    MAX_RESOURCE_ENTRIES,
    MAX_WAIT_SECONDS,
    Amount,
    Number,
    Port,
    ShortText,
)

UNDEFINED = "Undefined.token"


def _defined(values: Any) -> Any:
    if isinstance(values, dict):
        return {k: v for k, v in values.items() if v != UNDEFINED}
    return values


class TemplateSessionConfig(BaseModel):
    """``config`` of the request; None means "not sent" (keep the template's)."""

    model_config = ConfigDict(populate_by_name=True)

    mounts: list[ShortText] | None = Field(default=None, max_length=MAX_MOUNTS)
    mount_map: dict[ShortText, str] | None = Field(default=None, max_length=MAX_MOUNTS)
    environ: dict[str, str] | None = None
    resources: dict[str, Amount] | None = Field(default=None, max_length=MAX_RESOURCE_ENTRIES)
    resource_opts: dict[str, Amount] | None = Field(default=None, max_length=MAX_RESOURCE_ENTRIES)
    scaling_group: ShortText | None = Field(default=None, alias="scalingGroup")
    preopen_ports: list[Port] | None = Field(default=None, max_length=MAX_PREOPEN_PORTS)

    @model_validator(mode="before")
    @classmethod
    def _undefined(cls, values: Any) -> Any:
        return _defined(values)


class CreateFromTemplateRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    template_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=64)
    image: ShortText | None = None
    tag: str | None = Field(default=None, max_length=64)
    type: Literal["interactive", "batch", "INTERACTIVE", "BATCH"] | None = None
    domain: ShortText | None = None
    group: ShortText | None = None
    owner_access_key: ShortText | None = None
    startup_command: str | None = Field(default=None, max_length=64 * 1024, alias="startupCommand")
    bootstrap_script: str | None = Field(default=None, max_length=1024 * 1024)
    starts_at: str | None = Field(default=None, max_length=64)
    enqueue_only: bool | None = Field(default=None, alias="enqueueOnly")
    reuse_if_exists: bool | None = Field(default=None, alias="reuseIfExists")
    max_wait_seconds: Number | None = Field(
        default=None, ge=0, le=MAX_WAIT_SECONDS, alias="maxWaitSeconds"
    )
    cluster_size: Number | None = Field(default=None, ge=1, alias="clusterSize")
    cluster_mode: Literal["single-node", "multi-node"] | None = Field(
        default=None, alias="clusterMode"
    )
    config: TemplateSessionConfig = Field(default_factory=TemplateSessionConfig)

    @model_validator(mode="before")
    @classmethod
    def _undefined(cls, values: Any) -> Any:
        return _defined(values)
