"""Services the runner starts on demand inside the session, and connections to them.

The ops mirror ``backendai.common.app_protocol``'s "Runner ops" (which this stdlib-only code
cannot import): ``describe-services``, ``start-service``, ``stop-service`` and ``connect``.

What can be started: the intrinsic web terminal (``ttyd`` running ``tmux``) and SSH server
(``sshd``, OpenSSH as the container user), and the image's apps from Backend.AI service
definitions, ``/etc/backend.ai/service-defs/NAME.json``. A service listens on 127.0.0.1 only;
the agent reaches it through ``connect``, which hands it a connected socket as a descriptor.

None of this takes the interpreter's lock: code may run for hours while a user opens a terminal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from .channels import Message, Peer, log
from .sshd import SshdError, prepare_sshd

PRIVATE_DIR = "/tmp/.backendai/services"  # logs and sshd's files; the user's own, mode 0700
SERVICE_DEFS = "/etc/backend.ai/service-defs"
DEFAULT_START_TIMEOUT = 30.0
MAX_START_TIMEOUT = 600.0
POLL_INTERVAL = 0.025  # how often a starting service's port is tried
PROBE_TIMEOUT = 1.0  # a loopback connect answers at once; this only bounds a wedged listener
STOP_GRACE = 3.0  # between SIGTERM and SIGKILL
LOG_TAIL = 4096  # how much of a failed service's log its error carries
# Bounds on what a user may pass (app_protocol's MAX_APP_ARGUMENTS, MAX_APP_VALUE_LENGTH, ...).
MAX_ENTRIES = 64
MAX_VALUE_LENGTH = 4096
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")  # also keeps NAME.json in its dir
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
TMUX = ["tmux", "new-session", "-A", "-s", "main"]  # what the web terminal runs
PLACEHOLDER = re.compile(r"\{(?:ports\[(\d+)\]|(runtime_path|home))\}")


class ServiceError(Exception):
    """What ``start-service`` answers instead of starting: a status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Definition:
    """How to start one service: Backend.AI's service-def keys that we support."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    url_template: str | None = None
    allowed_arguments: list[str] | dict[str, Any] | None = None
    allowed_envs: list[str] = field(default_factory=list)
    default_arguments: dict[str, Any] = field(default_factory=dict)
    start_timeout: float = DEFAULT_START_TIMEOUT
    default_port: int | None = None
    intrinsic: bool = False

    def describe(self, running: bool) -> Message:
        return {
            "allowed_arguments": self.allowed_arguments,
            "allowed_envs": self.allowed_envs,
            "url_template": self.url_template,
            "running": running,
        }


def intrinsic_definitions() -> dict[str, Definition]:
    ttyd = shutil.which("ttyd") or "/usr/local/bin/ttyd"
    return {
        # -i takes an interface name or an address (libwebsockets resolves either); an address
        # leaves no doubt that nothing but loopback is bound. tmux -A re-attaches a reconnecting
        # browser to the same shell, and keeps it across a stop of ttyd.
        "ttyd": Definition(
            "ttyd",
            [ttyd, "-p", "{ports[0]}", "-i", "127.0.0.1", "-W", "-T", "xterm-256color", *TMUX],
            env={"TERM": "xterm-256color", "SHELL": "/bin/bash"},
            default_port=7681,
            intrinsic=True,
        ),
        # Its configuration, made at each start for the requested port (see sshd.py).
        "sshd": Definition("sshd", [], default_port=2200, intrinsic=True),
    }


def parse_definition(name: str, raw: Any) -> Definition:
    """A service-def file's JSON; ValueError naming what is wrong with it."""
    if not isinstance(raw, dict):
        raise ValueError("it is not a JSON object")
    command = raw.get("command")
    if not command or not isinstance(command, list) or not all(isinstance(a, str) for a in command):
        raise ValueError('"command" must be a non-empty list of strings')
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str | int | float) for v in env.values()):
        raise ValueError('"env" must map names to strings')
    url_template = raw.get("url_template")
    if url_template is not None and not isinstance(url_template, str):
        raise ValueError('"url_template" must be a string')
    allowed = raw.get("allowed_arguments")
    if allowed is not None and not isinstance(allowed, list | dict):
        raise ValueError('"allowed_arguments" must be a list or an object')
    allowed_envs = raw.get("allowed_envs") or []
    if not isinstance(allowed_envs, list) or not all(isinstance(e, str) for e in allowed_envs):
        raise ValueError('"allowed_envs" must be a list of names')
    defaults = raw.get("default_arguments") or {}
    if not isinstance(defaults, dict):
        raise ValueError('"default_arguments" must be an object')
    timeout = raw.get("start_timeout", DEFAULT_START_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError('"start_timeout" must be a positive number of seconds')
    return Definition(
        name,
        command,
        env={str(k): str(v) for k, v in env.items()},
        url_template=url_template,
        allowed_arguments=allowed,
        allowed_envs=allowed_envs,
        default_arguments=defaults,
        start_timeout=min(float(timeout), MAX_START_TIMEOUT),
    )


def substitute(text: str, ports: list[int], values: dict[str, str]) -> str:
    """``{ports[N]}``, ``{runtime_path}`` and ``{home}``; anything else in braces stays."""

    def one(match: re.Match[str]) -> str:
        if match.group(2):
            return values[match.group(2)]
        index = int(match.group(1))
        if index >= len(ports):
            raise ServiceError(502, f"The app's definition uses {{ports[{index}]}}, but the "
                                    f"image declares {len(ports)} port(s) for it.")  # fmt: skip
        return str(ports[index])

    return PLACEHOLDER.sub(one, text)


def check_text(what: str, text: Any) -> str:
    if not isinstance(text, str):
        raise ServiceError(400, f"{what} must be a string.")
    if "\0" in text or len(text) > MAX_VALUE_LENGTH:
        raise ServiceError(400, f"{what} must be at most {MAX_VALUE_LENGTH} characters, no NUL.")
    return text


def allowed_list(allowed: list[str] | dict[str, Any] | None) -> list[str]:
    return [str(name) for name in (allowed or [])]


def refusal(kind: str, name: str, app: str, allowed: list[str]) -> ServiceError:
    accepts = f"it accepts: {', '.join(allowed)}" if allowed else f"it accepts no {kind}s"
    return ServiceError(400, f"The app {app} does not accept the {kind} {name!r} ({accepts}).")


def check_arguments(definition: Definition, arguments: Any) -> dict[str, str | list[str] | None]:
    """The user's ``--arg`` values, each one allowed by the definition and bounded."""
    if not isinstance(arguments, dict) or len(arguments) > MAX_ENTRIES:
        raise ServiceError(400, f"Arguments must be an object of at most {MAX_ENTRIES} entries.")
    allowed = allowed_list(definition.allowed_arguments)
    checked: dict[str, str | list[str] | None] = {}
    for key, value in arguments.items():
        check_text("An argument's name", key)
        if key not in allowed:
            raise refusal("argument", key, definition.name, allowed)
        if isinstance(value, list):
            if len(value) > MAX_ENTRIES:
                raise ServiceError(400, f"{key} may be repeated at most {MAX_ENTRIES} times.")
            checked[key] = [check_text(f"The value of {key}", v) for v in value]
        else:
            checked[key] = None if value is None else check_text(f"The value of {key}", value)
    return checked


def check_envs(definition: Definition, envs: Any) -> dict[str, str]:
    if not isinstance(envs, dict) or len(envs) > MAX_ENTRIES:
        raise ServiceError(400, f"Environment variables must be at most {MAX_ENTRIES} entries.")
    for key, value in envs.items():
        if not isinstance(key, str) or not ENV_NAME.match(key):
            raise ServiceError(400, f"{key!r} is not an environment variable name.")
        if key not in definition.allowed_envs:
            raise refusal("environment variable", key, definition.name, definition.allowed_envs)
        check_text(f"The value of {key}", value)
    return dict(envs)


def option_argv(arguments: dict[str, Any]) -> list[str]:
    """``{"--a": "v", "--flag": None, "--r": ["1", "2"]}`` -> ``--a v --flag --r 1 --r 2``."""
    argv: list[str] = []
    for key, value in arguments.items():
        if value is None or value is True:
            argv.append(key)
        elif value is False:
            continue  # a default flag switched off
        elif isinstance(value, list):
            for item in value:
                argv += [key, str(item)]
        else:
            argv += [key, str(value)]
    return argv


def check_ports(ports: Any) -> list[int]:
    if ports is None:
        return []
    valid = isinstance(ports, list) and len(ports) <= MAX_ENTRIES
    if not valid or not all(type(p) is int and 0 < p < 65536 for p in ports):
        raise ServiceError(400, "Ports must be a list of TCP port numbers.")
    return list(ports)


def open_local(port: int) -> socket.socket:
    """A connection to ``port`` inside the container: IPv4 loopback, else IPv6's."""
    error: OSError = ConnectionRefusedError(f"nothing listens on port {port}")
    for host in ("127.0.0.1", "::1"):
        try:
            conn = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
        except OSError as e:
            error = e if host == "127.0.0.1" else error  # ::1's "unsupported" says less
            continue
        conn.settimeout(None)  # blocking: the mode travels with the descriptor
        return conn
    raise error


def accepts(port: int) -> bool:
    try:
        open_local(port).close()
    except OSError:
        return False
    return True


def ensure_private_dir(path: str) -> None:
    """Ours alone: /tmp is shared, so a directory someone else made there is refused."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.getuid():
        raise ServiceError(502, f"{path} is not the session's own directory.")
    os.chmod(path, 0o700)


def log_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - LOG_TAIL))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def terminate_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the service's process group; SIGKILL to what is left after STOP_GRACE."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader, or it would count as a member forever
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            break
        time.sleep(POLL_INTERVAL)
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class Services:
    def __init__(
        self, workdir: str, private_dir: str = PRIVATE_DIR, defs_dir: str = SERVICE_DEFS
    ) -> None:
        self.workdir, self.private_dir, self.defs_dir = workdir, private_dir, defs_dir
        self.intrinsic = intrinsic_definitions()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.locks: dict[str, threading.Lock] = {}
        self.guard = threading.Lock()  # over self.locks

    def definition(self, name: str) -> Definition | None:
        """Intrinsic first; then the image's; None when there is neither. ServiceError (502)
        for a definition that cannot be used."""
        if name in self.intrinsic:
            return self.intrinsic[name]
        if not NAME.match(name):
            return None
        path = os.path.join(self.defs_dir, f"{name}.json")
        try:
            with open(path) as f:
                return parse_definition(name, json.load(f))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ServiceError(
                502, f"The image's definition of {name} ({path}) is unusable: {e}"
            ) from e

    def running(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def lock(self, name: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(name, threading.Lock())

    # --- the ops -------------------------------------------------------------------------
    def describe(self, names: Any) -> Message:
        described: dict[str, Message] = {}
        for name in names if isinstance(names, list) else []:
            if not isinstance(name, str) or name in described:
                continue
            try:
                definition = self.definition(name)
            except ServiceError as e:
                log(e.message)  # listed as having no definition; starting it says why
                continue
            if definition is not None:
                described[name] = definition.describe(self.running(name))
        return {"op": "services", "services": described}

    def start(self, message: Message) -> Message:
        try:
            started, port = self._start(message)
        except ServiceError as e:
            return {"op": "service-failed", "status": e.status, "message": e.message}
        except Exception as e:  # the agent must get an answer, not a dropped link
            log(f"start-service failed: {e!r}")
            return {"op": "service-failed", "status": 502, "message": f"The runner failed: {e}"}
        return {"op": "service-started", "started": started, "port": port}

    def stop(self, name: Any) -> Message:
        if not isinstance(name, str):
            return {"op": "service-stopped", "stopped": False}
        with self.lock(name):
            proc = self.procs.pop(name, None)
            if proc is None:
                return {"op": "service-stopped", "stopped": False}
            alive = proc.poll() is None
            terminate_group(proc)  # what it started may outlive it: the group goes too
        log(f"stopped {name}")
        return {"op": "service-stopped", "stopped": alive}

    # --- starting ------------------------------------------------------------------------
    def _start(self, message: Message) -> tuple[bool, int]:
        name = message.get("name")
        if not isinstance(name, str) or not name:
            raise ServiceError(400, "The app has no name.")
        ports = check_ports(message.get("ports"))
        if message.get("protocol") == "preopen":
            return self._nothing_to_start(name, ports, preopen=True)
        definition = self.definition(name)
        if definition is None:
            return self._nothing_to_start(name, ports, preopen=False)
        port = ports[0] if ports else definition.default_port
        if port is None:
            raise ServiceError(400, f"The app {name} has no port.")
        arguments = check_arguments(definition, message.get("arguments") or {})
        envs = check_envs(definition, message.get("envs") or {})
        with self.lock(name):
            if accepts(port):
                # Ours, or one the user started by hand: either way it serves the app.
                return False, port
            stale = self.procs.pop(name, None)
            if stale is not None:
                terminate_group(stale)  # alive but deaf, or dead: a fresh one replaces it
            self._launch(definition, port, ports or [port], arguments, envs)
        return True, port

    def _nothing_to_start(self, name: str, ports: list[int], preopen: bool) -> tuple[bool, int]:
        if not ports:
            raise ServiceError(404, f"The session has no app named {name}.")
        if accepts(ports[0]):
            return False, ports[0]
        if preopen:
            raise ServiceError(404, f"Nothing listens on port {ports[0]} in the session yet: "
                                    f"start your own server for {name} there (on 127.0.0.1 "
                                    "or 0.0.0.0), then open the app again.")  # fmt: skip
        raise ServiceError(404, f"The image defines no way to start {name} (there is no "
                                f"{self.defs_dir}/{name}.json); start it yourself on port "
                                f"{ports[0]} in the session, then open the app again.")  # fmt: skip

    def _launch(
        self,
        definition: Definition,
        port: int,
        ports: list[int],
        arguments: dict[str, str | list[str] | None],
        envs: dict[str, str],
    ) -> None:
        ensure_private_dir(os.path.dirname(self.private_dir))
        ensure_private_dir(self.private_dir)
        values = {"runtime_path": shutil.which("python3") or sys.executable, "home": self.workdir}
        if definition.name == "sshd" and definition.intrinsic:
            try:
                command = prepare_sshd(os.path.join(self.private_dir, "sshd"), self.workdir, port)
            except (SshdError, OSError) as e:
                raise ServiceError(502, f"The app sshd could not be set up: {e}") from e
        else:
            command = [substitute(a, ports, values) for a in definition.command]
        defaults = {
            k: substitute(v, ports, values) if isinstance(v, str) else v
            for k, v in definition.default_arguments.items()
        }
        argv = command + option_argv(defaults | arguments)
        env = dict(os.environ)
        env.update({k: substitute(v, ports, values) for k, v in definition.env.items()})
        env.update(envs)
        log_path = os.path.join(self.private_dir, f"{definition.name}.log")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
        log_fd = os.open(log_path, flags, 0o600)
        try:
            # Its own session: a stop reaches all it started, and no interrupt of user code
            # reaches it.
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log_fd, stderr=subprocess.STDOUT,
                cwd=self.workdir, env=env, start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            raise ServiceError(502, f"The app {definition.name} could not be started: {e}") from e
        finally:
            os.close(log_fd)
        self.procs[definition.name] = proc
        log(f"started {definition.name} (pid {proc.pid}, port {port})")
        self._wait_listening(definition, proc, port, log_path)

    def _wait_listening(
        self, definition: Definition, proc: subprocess.Popen[bytes], port: int, log_path: str
    ) -> None:
        deadline = time.monotonic() + definition.start_timeout
        while not accepts(port):
            code = proc.poll()
            if code is not None:
                why = f"exited (status {code})" if code >= 0 else f"was killed (signal {-code})"
            elif time.monotonic() > deadline:
                why = f"did not accept connections within {definition.start_timeout:g} s"
            else:
                time.sleep(POLL_INTERVAL)
                continue
            terminate_group(proc)
            self.procs.pop(definition.name, None)
            raise ServiceError(502, f"The app {definition.name} {why} on port {port}. "
                                    f"Its log ends with:\n{log_tail(log_path)}")  # fmt: skip


def connect(peer: Peer, message: Message) -> None:
    """Hands the agent a connection to a port inside the container: the ``connected`` line
    and the descriptor go in one sendmsg, so the agent cannot read one without the other."""
    port = message.get("port")
    if type(port) is not int or not 0 < port < 65536:
        peer.send({"op": "connect-failed", "message": f"{port!r} is not a TCP port."})
        return
    try:
        conn = open_local(port)
    except OSError as e:
        reason = e.strerror or str(e)
        text = f"Nothing accepts connections on port {port} in the session ({reason})."
        peer.send({"op": "connect-failed", "message": text})
        return
    try:
        line = json.dumps({"op": "connected"}).encode() + b"\n"
        socket.send_fds(peer.sock, [line], [conn.fileno()])
    except OSError as e:
        log(f"could not hand over a connection to port {port}: {e!r}")
    finally:
        conn.close()  # the agent holds its own copy now
