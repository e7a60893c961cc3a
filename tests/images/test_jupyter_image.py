"""The jupyter image (images/jupyter/) on the real Docker Engine: its labels, its kernelspec and
its service definitions, whose commands must start Jupyter on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

IMAGE = "backendai/python-jupyter:3.11-debian12"
ALIAS = "backendai/python-jupyter:latest"
PYTHON_IMAGE = "backendai/python:3.11-debian12"
SERVICE_DEFS = "/etc/backend.ai/service-defs"
DEF_KEYS = {
    "command", "env", "url_template", "allowed_arguments", "allowed_envs", "default_arguments",
    "start_timeout",
}  # fmt: skip
# The ports the image's label gives each app (the runner passes them as {ports[0]}).
APP_PORTS = {"jupyter": 8080, "jupyterlab": 8090}
START_TIMEOUT_S = 30


def docker(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def image() -> str:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        message = f"{IMAGE} is missing (run images/build.sh jupyter)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return IMAGE


def labels(image: str) -> dict[str, str]:
    found: dict[str, str] = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Labels}}", image)
    )
    return found


def test_labels_are_the_python_images_plus_the_jupyter_apps(image: str) -> None:
    mine, python = labels(image), labels(PYTHON_IMAGE)
    for key, value in python.items():
        if key not in ("ai.backend.service-ports", "ai.backend.build-hash"):
            assert mine.get(key) == value, key
    assert mine["ai.backend.service-ports"] == (
        "ttyd:http:7681,sshd:tcp:2200,jupyter:http:8080,jupyterlab:http:8090"
    )
    assert mine["ai.backend.kernelspec"] == "1"
    assert mine["ai.backend.runtime-path"] == "/usr/bin/python3"
    # The short tag is the same image, so the manager's default aliases find it either way.
    assert docker("image", "inspect", "--format", "{{.Id}}", ALIAS) == docker(
        "image", "inspect", "--format", "{{.Id}}", image
    )


def test_the_only_kernel_is_shown_as_backend_ai(image: str) -> None:
    listed = json.loads(docker("run", "--rm", image, "jupyter", "kernelspec", "list", "--json"))
    specs = listed["kernelspecs"]
    assert list(specs) == ["python3"]
    spec = specs["python3"]["spec"]
    assert spec["display_name"] == "Backend.AI"
    assert spec["language"] == "python"
    assert spec["argv"][0] == "/usr/bin/python3"


def service_defs(image: str) -> dict[str, dict[str, Any]]:
    script = (
        "import json, pathlib; print(json.dumps({p.stem: json.loads(p.read_text()) "
        f"for p in pathlib.Path({SERVICE_DEFS!r}).glob('*.json')}}))"
    )
    found: dict[str, dict[str, Any]] = json.loads(
        docker("run", "--rm", image, "python3", "-c", script)
    )
    return found


def test_service_defs_have_the_runners_format(image: str) -> None:
    defs = service_defs(image)
    assert set(defs) == {"jupyter", "jupyterlab"}
    for name, spec in defs.items():
        assert set(spec) <= DEF_KEYS, name
        command = spec["command"]
        assert isinstance(command, list) and all(isinstance(a, str) for a in command)
        assert command[:3] == [
            "{runtime_path}",
            "-m",
            "notebook" if name == "jupyter" else "jupyterlab",
        ]
        assert "--ServerApp.port={ports[0]}" in command
        assert "--ServerApp.ip=127.0.0.1" in command
        assert "--ServerApp.root_dir={home}" in command
        # The app proxy authenticates; Jupyter's own origin checks stay on.
        assert not any("allow_origin" in a for a in command)
        assert all(isinstance(a, str) for a in spec["allowed_arguments"])
        assert all(isinstance(e, str) for e in spec["allowed_envs"])
        assert set(spec["default_arguments"]) <= set(spec["allowed_arguments"])
        assert isinstance(spec["url_template"], str)
        assert 0 < spec["start_timeout"] <= 120


def render(spec: dict[str, Any], port: int) -> list[str]:
    """The command as the runner makes it (agent/runner/services.py): placeholders filled,
    default arguments added as ``--option value``."""
    values = {"ports": [port], "runtime_path": "python3", "home": "/home/work"}
    command = [arg.format(**values) for arg in spec["command"]]
    for option, value in spec.get("default_arguments", {}).items():
        command += [option] if value is None else [option, str(value)]
    return command


# Runs inside the container: waits for Jupyter, then answers what the test checks.
PROBE = textwrap.dedent(
    """
    import json, sys, time, urllib.error, urllib.request
    port, page = int(sys.argv[1]), sys.argv[2]
    base = f"http://127.0.0.1:{port}"

    def get(path, **headers):
        request = urllib.request.Request(base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, b""

    deadline = time.monotonic() + float(sys.argv[3])
    while True:
        try:
            status, _ = get("/api/status")
            if status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("jupyter did not answer")
        time.sleep(0.05)
    listening = sorted(
        line.split()[1] for line in open("/proc/net/tcp").read().splitlines()[1:]
        if line.split()[3] == "0A"
    ) + sorted(
        line.split()[1] for line in open("/proc/net/tcp6").read().splitlines()[1:]
        if line.split()[3] == "0A"
    )
    kernels = json.loads(get("/api/kernelspecs")[1])
    print(json.dumps({
        "listening": listening,
        "page": get(page)[0],
        "kernel": kernels["kernelspecs"][kernels["default"]]["spec"]["display_name"],
        "other_host": get("/api/contents", Host="sessions.example.com:30001")[0],
        "same_origin": get("/api/contents", Origin=f"http://127.0.0.1:{port}")[0],
        "foreign_origin": get("/api/contents", Origin="http://evil.example.com")[0],
    }))
    """
)


@pytest.fixture
def container(image: str) -> Iterator[list[str]]:
    """Names of the containers a test starts; all removed after it."""
    names: list[str] = []
    yield names
    if names:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, check=False)


@pytest.mark.parametrize("app", ["jupyter", "jupyterlab"])
def test_service_command_starts_jupyter_on_loopback(
    image: str, app: str, container: list[str]
) -> None:
    spec = service_defs(image)[app]
    port = APP_PORTS[app]
    uid = labels(image)["ai.backend.work-uid"]
    name = f"test-jupyter-image-{uuid.uuid4().hex[:8]}"
    container.append(name)
    # As the session user, with no network at all: Jupyter needs none to start.
    docker("run", "-d", "--name", name, "--user", f"{uid}:{uid}", "--network", "none",
           "-w", "/home/work", image, *render(spec, port))  # fmt: skip
    page = "/tree" if app == "jupyter" else "/lab"
    probe = subprocess.run(
        ["docker", "exec", name, "python3", "-c", PROBE, str(port), page, str(START_TIMEOUT_S)],
        capture_output=True, text=True, timeout=START_TIMEOUT_S + 30, check=False,
    )  # fmt: skip
    logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True).stderr
    assert probe.returncode == 0, f"{probe.stderr}\n{logs}"
    seen = json.loads(probe.stdout)
    # 127.0.0.1:port in /proc/net/tcp's notation, and nothing else of Jupyter's listens.
    assert seen["listening"] == [f"0100007F:{port:04X}"], seen
    assert seen["page"] == 200
    assert seen["kernel"] == "Backend.AI"
    assert seen["other_host"] == 200  # allow_remote_access: users come through the proxy
    assert seen["same_origin"] == 200
    assert seen["foreign_origin"] == 404  # Jupyter's own origin check is kept
    assert "Traceback" not in logs, logs
