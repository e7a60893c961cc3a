"""One run of code: query mode in the persistent interpreter, or the batch phases."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from .channels import (
    MAX_PENDING,
    OOM_ENDING,
    READ_SIZE,
    Message,
    Output,
    Peer,
    Pipe,
    exit_status,
    log,
    oom_kills,
    oom_message,
)

# The exact line Backend.AI's Python kernel prints (the seeds show the doubled prefix).
SKIP_BUILD = (
    'python-kernel: python-kernel: skipping the build phase due to missing "setup.py" file\n'
)
NO_MAIN = 'python-kernel: cannot find the main script ("main.py").\n'
HERE = os.path.dirname(os.path.abspath(__file__))
Callback = Callable[[], None]


class Interpreter:
    """The persistent child interpreter of query mode, restarted when it dies."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def ensure(self) -> subprocess.Popen[bytes]:
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            ctl_in, self.ctl_in = os.pipe()
            self.ctl_out, ctl_out = os.pipe()
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            # Its own session, so an interrupt reaches it and whatever it started.
            self.proc = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "interpreter.py"), str(ctl_in), str(ctl_out)],
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                pass_fds=(ctl_in, ctl_out),
                cwd=self.workdir,
                start_new_session=True,
            )
            for fd in (ctl_in, ctl_out, out_w, err_w):
                os.close(fd)
            os.set_blocking(self.ctl_out, False)
            self.ctl_buffer = b""
            self.pipes = [Pipe(out_r, "stdout"), Pipe(err_r, "stderr")]
        return self.proc

    def send(self, message: Message) -> None:
        os.write(self.ctl_in, json.dumps(message).encode() + b"\n")

    def configure(self, environ: dict[str, str]) -> None:
        """Give the running interpreter new environment variables (a new one inherits ours)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.send({"environ": environ})
            except OSError:
                self.close()  # it is dying: the next run starts a new one, with our environment

    def receive(self) -> tuple[list[Message], bool]:
        """Control messages available now, and whether the interpreter has gone."""
        try:
            data = os.read(self.ctl_out, READ_SIZE)
        except BlockingIOError:
            return [], False
        *lines, self.ctl_buffer = (self.ctl_buffer + data).split(b"\n")
        return [json.loads(line) for line in lines if line.strip()], not data

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            for fd in (self.ctl_in, self.ctl_out, *(p.fd for p in self.pipes)):
                os.close(fd)
            self.proc = None


class Run:
    """One execution: output to the peer; input lines and interrupts to the code."""

    def __init__(self, peer: Peer, workdir: str) -> None:
        self.peer, self.workdir = peer, workdir
        self.out = Output(peer)
        self.interrupt: Callback = lambda: None
        self.on_input: Callable[[str], None] | None = None
        self.done = False

    def pump(self, sources: dict[int, Callback], tick: Callback | None = None) -> None:
        """Dispatch readable fds to their callbacks until one of them sets ``done``."""
        self.sel = selectors.DefaultSelector()
        if not self.peer.closed:
            self.sel.register(self.peer.sock, selectors.EVENT_READ, self.on_peer)
        for fd, callback in sources.items():
            self.sel.register(fd, selectors.EVENT_READ, callback)
        self.done = False
        self.handle_peer()  # what came with the "run" message, or during an earlier phase
        try:
            while not self.done:
                timeout = self.out.timeout()
                if tick is not None:
                    timeout = min(timeout, 0.02) if timeout is not None else 0.02
                for key, _ in self.sel.select(timeout):
                    key.data()
                if tick is not None:
                    tick()
                if self.out.console and (self.out.size >= MAX_PENDING or not self.out.timeout()):
                    self.out.send("continued")
        finally:
            self.sel.close()

    def on_peer(self) -> None:
        self.peer.feed()
        self.handle_peer()

    def handle_peer(self) -> None:
        for message in self.peer.take():
            if message.get("op") == "interrupt":
                self.interrupt()
            elif message.get("op") == "input" and self.on_input is not None:
                on_input, self.on_input = self.on_input, None
                on_input(str(message.get("data", "")))
        if self.peer.closed:
            # The client went away: stop the code as Ctrl-C would, and finish quietly.
            if self.peer.sock in self.sel.get_map():
                self.sel.unregister(self.peer.sock)
            self.interrupt()

    def reader(self, pipe: Pipe) -> Callback:
        def read() -> None:
            pipe.drain(self.out)
            if pipe.eof:
                self.sel.unregister(pipe.fd)

        return read

    def query(self, interp: Interpreter, code: str) -> None:
        proc = interp.ensure()
        ooms = oom_kills()
        exit_code = 0
        # A Ctrl-C that comes before the interpreter runs the code would be ignored there
        # (it ignores interrupts between runs), so it waits for "started".
        started = held = False

        def control() -> None:
            nonlocal exit_code, started, held
            messages, gone = interp.receive()
            for pipe in interp.pipes:  # what the code printed before it asked or ended
                pipe.drain(self.out)
            for message in messages:
                if "started" in message:
                    started = True
                    if held:
                        held = False
                        interrupt()
                elif "done" in message:
                    exit_code, self.done = int(message["done"]), True
                elif "input" in message:
                    self.out.add("stdout", str(message["input"]))
                    self.on_input = lambda line: interp.send({"input": line})
                    self.out.send("waiting-input", is_password=bool(message.get("password")))
            if gone and not self.done:
                returncode = proc.wait()
                for pipe in interp.pipes:
                    pipe.drain(self.out)
                oom = returncode == -signal.SIGKILL and oom_kills() > ooms
                if oom:  # the agent ends the session: its memory limit was reached
                    self.out.add("stderr", oom_message() + OOM_ENDING)
                else:
                    lost = f"\nThe interpreter exited ({returncode}).\n"
                    self.out.add("stderr", lost + "Its variables are lost; a new one is ready.\n")
                exit_code, self.done = exit_status(returncode), True

        def interrupt() -> None:
            nonlocal held
            self.on_input = None
            if not started:
                held = True
            elif proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)

        self.interrupt = interrupt
        sources = {pipe.fd: self.reader(pipe) for pipe in interp.pipes}
        interp.send({"code": code})
        self.pump(sources | {interp.ctl_out: control})
        self.out.send("finished", exit_code)
        interp.ensure()  # restart a dead one now, so the next run does not wait for it

    def batch(self, options: Message) -> None:
        for phase, status in (("clean", "clean-finished"), ("build", "build-finished")):
            code = self.phase(phase, options.get(phase))
            if code != 0:
                # Backend.AI stops at the first failing phase and reports it as the end.
                self.out.send("finished", code)
                return
            self.out.send(status, code)
        self.out.send("finished", self.phase("exec", options.get("exec")))

    def phase(self, phase: str, option: Any) -> int:
        """Run one phase: null/"" skip it, "*" is the Python heuristic, else a shell command."""
        if option is None or option == "":
            return 0
        if option != "*":
            return self.shell(str(option))
        if phase == "build":
            if os.path.exists(os.path.join(self.workdir, "setup.py")):
                return self.shell(f"{sys.executable} -m pip install --user -e .")
            # A notice of ours, not the program's output: stdout is for what the code prints.
            self.out.add("stderr", SKIP_BUILD)
        elif phase == "exec":
            if os.path.exists(os.path.join(self.workdir, "main.py")):
                return self.shell(f"{sys.executable} main.py")
            self.out.add("stderr", NO_MAIN)
            return 127
        return 0

    def shell(self, command: str) -> int:
        log(f"batch: {command}")
        ooms = oom_kills()
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=self.workdir,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # an interrupt reaches the whole process group
        )
        assert proc.stdout is not None and proc.stderr is not None
        pipes = [Pipe(proc.stdout.fileno(), "stdout"), Pipe(proc.stderr.fileno(), "stderr")]

        def exited() -> None:
            self.done = proc.poll() is not None

        def interrupt() -> None:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)

        self.interrupt = interrupt
        sources = {pipe.fd: self.reader(pipe) for pipe in pipes}
        # A pidfd says when the command exits even if a background job keeps its pipes open;
        # without one (old kernels), poll.
        pidfd = os.pidfd_open(proc.pid) if hasattr(os, "pidfd_open") else None
        if pidfd is None:
            self.pump(sources, tick=exited)
        else:
            self.pump(sources | {pidfd: exited})
            os.close(pidfd)
        returncode = proc.wait()
        for pipe in pipes:
            pipe.drain(self.out)
        proc.stdout.close()
        proc.stderr.close()
        if returncode == -signal.SIGKILL and oom_kills() > ooms:
            self.out.add("stderr", oom_message())
        return exit_status(returncode)
