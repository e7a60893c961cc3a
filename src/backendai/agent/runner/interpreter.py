"""The query-mode interpreter: a child of the runner whose globals survive between runs.

Standard library only (it runs on the image's Python). The runner starts it as
``python3 interpreter.py CTL_IN CTL_OUT`` with fds 1 and 2 on pipes it reads, so output of
subprocesses and C extensions is captured as well as ``print``. On the control pipes, one JSON
object per line:
  runner -> interpreter  {"code": SOURCE} | {"input": LINE} | {"environ": {NAME: VALUE}}
  interpreter -> runner  {"started": true} | {"done": EXIT_CODE}
                         | {"input": PROMPT, "password": BOOL}
"started" says the code can now be interrupted; the runner holds back an earlier Ctrl-C till then.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import linecache
import os
import signal
import sys
import traceback
import types
from collections.abc import Callable
from typing import Any, BinaryIO


class Control:
    def __init__(self, fd_in: int, fd_out: int) -> None:
        self.reader: BinaryIO = os.fdopen(fd_in, "rb")
        self.fd_out = fd_out

    def tell(self, message: dict[str, Any]) -> None:
        os.write(self.fd_out, json.dumps(message).encode() + b"\n")

    def ask(self, prompt: str, password: bool) -> str:
        """Block the user's code until the client sends a line (the input() protocol)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.tell({"input": prompt, "password": password})
        line = self.reader.readline()
        if not line:
            raise EOFError
        return str(json.loads(line).get("input", ""))


class Stdin(io.StringIO):
    """sys.stdin for user code: reading a line asks the client for it."""

    def __init__(self, control: Control) -> None:
        super().__init__()
        self.control = control

    # typeshed gives io.StringIO two incompatible readline bases; this matches StringIO.
    def readline(self, size: int | None = -1, /) -> str:  # type: ignore[override]
        return self.control.ask("", False) + "\n"

    def read(self, size: int | None = -1, /) -> str:
        return self.readline()


def unbuffered(fd: int) -> io.TextIOWrapper:
    # write_through: every print reaches the runner at once, so output streams while code runs.
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)


def ignore_interrupts() -> None:
    """Between runs an interrupt must not kill us; it may land anywhere, so retry until set."""
    while True:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            return
        except KeyboardInterrupt:
            continue


def run_cell(
    source: str, namespace: dict[str, Any], filename: str, started: Callable[[], None]
) -> int:
    """Run one piece of code like a notebook cell; the exit code the client shows."""
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        started()
        try:
            tree = ast.parse(source, filename, "exec")
        except SyntaxError as e:
            traceback.print_exception(type(e), e, None)
            return 1
        # Tracebacks show the source lines of earlier cells too.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            # Like Jupyter: the value of a final expression is shown.
            tree.body.pop()
        try:
            exec(compile(tree, filename, "exec"), namespace)
            if isinstance(last, ast.Expr):
                value = eval(compile(ast.Expression(last.value), filename, "eval"), namespace)
                if value is not None:
                    print(repr(value))
            return 0
        except SystemExit as e:
            if e.code is None or isinstance(e.code, int):
                return e.code or 0
            print(e.code, file=sys.stderr)
            return 1
        except BaseException as e:
            # Drop our own frame: the user sees only their code.
            tb = e.__traceback__.tb_next if e.__traceback__ else None
            traceback.print_exception(type(e), e, tb)
            return 1
    except KeyboardInterrupt:  # arrived before the code began, or while reporting an error
        with contextlib.suppress(KeyboardInterrupt):
            print("KeyboardInterrupt", file=sys.stderr)
        return 1


def serve(fd_in: int, fd_out: int) -> None:
    control = Control(fd_in, fd_out)
    sys.path[0] = ""  # like an interactive interpreter: import from the working directory
    sys.argv = [""]
    sys.stdout, sys.stderr = unbuffered(1), unbuffered(2)
    sys.stdin = Stdin(control)
    builtins.input = lambda prompt="": control.ask(str(prompt), False)
    import getpass

    getpass.getpass = lambda prompt="Password: ", stream=None: control.ask(prompt, True)
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main  # so pickle and friends find user-defined classes
    count = 0
    while True:
        ignore_interrupts()
        line = control.reader.readline()
        if not line:
            return
        message = json.loads(line)
        if "environ" in message:  # between runs, so no reply: the next message is code
            os.environ.update(message["environ"])
            continue
        count += 1
        exit_code = run_cell(
            str(message["code"]),
            main.__dict__,
            f"<cell-{count}>",
            lambda: control.tell({"started": True}),
        )
        ignore_interrupts()
        sys.stdout.flush()
        sys.stderr.flush()
        control.tell({"done": exit_code})


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
