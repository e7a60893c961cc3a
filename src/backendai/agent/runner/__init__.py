"""The in-container runner: query mode (a persistent interpreter) and batch mode.

Standard library only: this directory is bind-mounted read-only into every container at
``/opt/backend.ai/runner`` and started as its main process (``python3 -m runner``, as the
unprivileged user), so it runs on whatever Python 3 the image has; nothing of the agent may be
imported here. The agent reaches it through a unix socket in a host directory mounted into the
container, never through the container network. One JSON object per line each way:

    agent -> runner  {"op": "ping"} | {"op": "run", "mode": "query"|"batch", "code", "options"}
                     {"op": "input", "data": LINE} | {"op": "interrupt"}
                     {"op": "configure", "environ": {NAME: VALUE}} (a claimed pool container)
    runner -> agent  {"op": "hello", "protocol": 1} first, then
                     {"op": "pong"} | {"op": "configured"} |
                     result frames exactly as Backend.AI's client expects:
                     {"status", "console": [[stream, text], ...], "exitCode", "options", "files"}

Apps (``services.py``, ``sshd.py``; shapes in ``backendai.common.app_protocol``, "Runner
ops"): ``describe-services``, ``start-service``, ``stop-service`` and ``connect``, which hands
the agent a connection to an app on the container's loopback as a descriptor (SCM_RIGHTS) and
ends the link. They never wait for a run: code may run for hours while a terminal opens.

Runs are serialised. Query mode runs code in ``interpreter.py``, a child process kept alive
between runs; batch mode runs the clean/build/exec phases as shell commands. A dropped
connection interrupts its run, as Ctrl-C would.
"""
