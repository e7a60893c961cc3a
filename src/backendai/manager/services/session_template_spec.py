"""The session template document (seed 001 "Full syntax for task template"): parsing it from
YAML or JSON text, checking its shape, and the shell snippet its ``git`` section becomes.

Every key has the spellings the seed gives (``api_version``/``apiVersion``, ``type``/
``sessionType``, ``startup``/``startup_command``/``startupCommand``, ``destination_dir``/
``destinationDir``); the template is stored in one normalized spelling (``session_type``,
``startup_command``, ``destination_dir``: what ``get`` returns). Unknown keys are refused at
every level, with the path of the key, so that a typo never silently drops a setting.

What the payload may cost is bounded before it is parsed: its size, and YAML aliases (which
would let a few bytes stand for an exponentially large document) are refused.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from backendai.common.errors import InvalidRequest, PlatformError
from backendai.common.session_request import MAX_ENV_VARS, MAX_MOUNTS, SessionConfig
from backendai.common.slots import ResourceSlot
from backendai.common.vfolders import MOUNT_ROOT

MAX_PAYLOAD = 64 * 1024
_HOME = PurePosixPath(MOUNT_ROOT)
_REPO_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def _scalar_text(value: Any) -> Any:
    """YAML reads ``branch: 19.09`` as a float and ``commit: 1234`` as an int; the author meant
    text. Booleans stay refused: ``yes`` is rarely a branch name."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_scalar_text), Field(max_length=4096)]
ShortText = Annotated[str, BeforeValidator(_scalar_text), Field(min_length=1, max_length=256)]
Script = Annotated[str, Field(max_length=MAX_PAYLOAD)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _no_option(value: str | None) -> str | None:
    # A value git would read as an option (``--upload-pack=...``) runs commands on clone.
    if value is not None and value.startswith("-"):
        raise ValueError(f"{value!r} may not start with '-'")
    return value


def _under_home(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    path = PurePosixPath(value)
    if not path.is_absolute() or ".." in path.parts or not path.is_relative_to(_HOME):
        raise ValueError(f"{value!r} is not a path under {MOUNT_ROOT}/")
    if path == _HOME:
        raise ValueError(f"{value!r} is {MOUNT_ROOT} itself; name a directory under it")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise ValueError("the path contains a control character")
    return str(path)


class GitCredential(_Strict):
    username: ShortText
    password: Text


class GitSpec(_Strict):
    repository: Text = Field(min_length=1)
    branch: ShortText | None = None
    commit: ShortText | None = None
    credential: GitCredential | None = None
    destination_dir: Text | None = Field(
        default=None, validation_alias=AliasChoices("destination_dir", "destinationDir")
    )

    _options = field_validator("repository", "branch", "commit")(_no_option)
    _home = field_validator("destination_dir")(_under_home)

    def destination(self) -> str:
        """``destination_dir``, or ``/home/work/<repository name without .git>``."""
        if self.destination_dir:
            return self.destination_dir
        name = self.repository.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        name = name.removesuffix(".git")
        if not _REPO_NAME.match(name) or name in (".", ".."):
            raise ValueError(
                f"no directory name follows from the repository {self.repository!r}; "
                "set destinationDir"
            )
        return str(_HOME / name)


class RunSpec(_Strict):
    bootstrap: Script | None = None
    startup_command: Script | None = Field(
        default=None,
        validation_alias=AliasChoices("startup_command", "startupCommand", "startup"),
    )


class KernelSpec(_Strict):
    image: ShortText
    environ: dict[str, Annotated[str, BeforeValidator(_scalar_text)]] = Field(
        default_factory=dict, max_length=MAX_ENV_VARS
    )
    run: RunSpec | None = None
    git: GitSpec | None = None

    @field_validator("environ")
    @classmethod
    def _environ(cls, environ: dict[str, str]) -> dict[str, str]:
        # The same rules as a session's environment: the template must be startable.
        return SessionConfig._check_environ(environ)

    @field_validator("git")
    @classmethod
    def _destination(cls, git: GitSpec | None) -> GitSpec | None:
        if git is not None:
            git.destination()  # refused now, not when the session starts
        return git


MountPath = Annotated[str | None, BeforeValidator(_under_home)]


class Spec(_Strict):
    session_type: Literal["interactive", "batch"] = Field(
        default="interactive",
        validation_alias=AliasChoices("session_type", "sessionType", "type"),
    )
    kernel: KernelSpec
    resources: dict[ShortText, ShortText] = Field(default_factory=dict, max_length=16)
    mounts: dict[ShortText, MountPath] = Field(default_factory=dict, max_length=MAX_MOUNTS)
    scaling_group: ShortText | None = Field(
        default=None, validation_alias=AliasChoices("scaling_group", "scalingGroup")
    )

    @field_validator("resources")
    @classmethod
    def _resources(cls, resources: dict[str, str]) -> dict[str, str]:
        # Checked as POST /session will (``shmem`` rides along there as a resource option).
        try:
            ResourceSlot.parse({k: v for k, v in resources.items() if k != "shmem"})
        except PlatformError as e:
            raise ValueError(str(e)) from e
        return resources


class Metadata(_Strict):
    name: ShortText
    tag: ShortText | None = None


class TaskTemplate(_Strict):
    api_version: ShortText = Field(validation_alias=AliasChoices("api_version", "apiVersion"))
    kind: Literal["taskTemplate", "task_template"]
    metadata: Metadata
    spec: Spec

    def normalized(self) -> dict[str, Any]:
        """What is stored and what ``get`` shows: one spelling per key, no empty options."""
        doc = self.model_dump(mode="json", exclude_none=True)
        doc["kind"] = "taskTemplate"
        return doc


MAX_DEPTH = 32  # a template needs 5 levels; nothing legitimate comes near this


def template_problem(path: str, why: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid session template: {path}: {why}", data={path: why})


def _why(kind: str, msg: str) -> str:
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key"
    return msg.removeprefix("Value error, ")


def _no_aliases(text: str) -> None:
    """Refuse aliases (a billion-laughs expansion) and deep nesting from the event stream,
    before any node is built: PyYAML's composer recurses per level, and a 64 KiB payload of
    nested brackets took 16 s of the event loop to fail with a RecursionError."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise InvalidRequest(
                "The template uses a YAML alias (*name); write the value out instead."
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidRequest(
                    f"The template is nested too deeply (more than {MAX_DEPTH} levels)."
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load(payload: str) -> Any:
    if len(payload.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD:
        raise InvalidRequest(
            f"The template is larger than {MAX_PAYLOAD // 1024} KiB; keep it shorter "
            "(put long scripts in a virtual folder)."
        )
    if not payload.strip():
        raise InvalidRequest("The template is empty; send its YAML or JSON text as payload.")
    try:
        if payload.lstrip().startswith("{"):
            return json.loads(payload)
        _no_aliases(payload)
        return yaml.safe_load(payload)
    except (ValueError, yaml.YAMLError) as e:
        raise InvalidRequest(f"The template is neither valid YAML nor JSON: {e}") from e
    except RecursionError as e:
        raise InvalidRequest("The template is nested too deeply.") from e


def parse_template(payload: str) -> TaskTemplate:
    """The template ``payload`` holds; a 400 naming the path of each bad field otherwise."""
    doc = _load(payload)
    if not isinstance(doc, dict):
        raise InvalidRequest(
            f"The template must be a mapping (api_version, kind, metadata, spec), "
            f"not a {type(doc).__name__}."
        )
    try:
        return TaskTemplate.model_validate(doc)
    except ValidationError as e:
        fields = {
            ".".join(str(p) for p in err["loc"]) or "(template)": _why(err["type"], err["msg"])
            for err in e.errors()
        }
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise InvalidRequest(f"Invalid session template: {summary}", data=fields) from e


def git_snippet(git: GitSpec) -> str:
    """Shell commands that clone ``git`` into its destination, failing the script (with git's
    message on stderr) when the clone or checkout fails.

    Every value is quoted. Credentials go in an HTTP header given on the clone's command line
    only (``-c http.extraHeader``): they are neither in the URL nor in the clone's
    ``.git/config``, and nothing here echoes them. ``GIT_TERMINAL_PROMPT=0`` makes a clone
    that needs credentials fail instead of waiting forever for a password.
    """
    dest = git.destination()
    config = ""
    if git.credential is not None:
        token = base64.b64encode(
            f"{git.credential.username}:{git.credential.password}".encode()
        ).decode()
        config = f"-c {shlex.quote(f'http.extraHeader=Authorization: Basic {token}')} "
    branch = f"--branch {shlex.quote(git.branch)} " if git.branch else ""
    q = shlex.quote(dest)
    lines = [
        "# The session template's git repository, cloned before its bootstrap script runs.",
        "(",
        "  set -e",
        "  export GIT_TERMINAL_PROMPT=0",
        # A destination in a folder that outlives the session keeps its clone: starting the
        # template again must not fail on it.
        f"  if [ -e {shlex.quote(dest + '/.git')} ]; then",
        f"    echo {shlex.quote(f'{dest} already holds a git repository; not cloning again.')} >&2",
        "  else",
        f"    mkdir -p -- {shlex.quote(str(PurePosixPath(dest).parent))}",
        f"    git {config}clone --quiet {branch}-- {shlex.quote(git.repository)} {q}",
    ]
    if git.commit:
        lines.append(
            f"    git -C {q} -c advice.detachedHead=false checkout --quiet "
            f"{shlex.quote(git.commit)} --"
        )
    lines += ["  fi", ") || exit $?", ""]
    return "\n".join(lines)
