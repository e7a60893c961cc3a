"""Running code in a session from the terminal: output, input prompts and Ctrl-C.

* Console records are written verbatim: ``stdout`` to stdout, ``stderr`` to stderr; other
  record types (``html``, ``media``, ...) are shown as delimited blocks on stdout.
* ``waiting-input``: one line is read from the terminal (hidden for passwords) and sent.
* Ctrl-C: the first press asks the server to interrupt the running code
  (``POST /session/{name}/interrupt``), which keeps the session and its state; the code's
  own ``finished`` frame then ends the run. A second press aborts the command.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from backendai.client.exceptions import BackendClientError, BackendError
from backendai.client.func.binding import AsyncMode
from backendai.client.func.compute_session import ComputeSession

from .pretty import print_done, print_fail, print_info, print_wait, print_warn

AsyncComputeSession = ComputeSession[AsyncMode]


@dataclass
class CaseOutput:
    """Where one case's output and status lines go.

    A single case writes to the terminal. Each case of a parametric run writes its program
    output to its own log files, and its status lines to the terminal (with the case index)
    and to its stderr log.
    """

    idx: int
    stdout: IO[str]
    stderr: IO[str]
    quiet: bool = False
    is_multi: bool = False

    def info(self, msg: str) -> None:
        if not self.quiet:
            print_info(msg)

    def wait(self, msg: str) -> None:
        if not self.quiet:
            print_wait(msg)

    def done(self, msg: str) -> None:
        if not self.quiet:
            print_done(msg)

    def step_done(self, msg: str) -> None:
        """``✔ [idx] msg`` on the terminal; the bare message in a case's stderr log too."""
        if self.is_multi:
            self.stderr.write(msg + "\n")
        self.done(f"[{self.idx}] {msg}")


def write_frame(frame: Mapping[str, Any], out: CaseOutput) -> None:
    """Print the console records and generated files of one result frame."""
    for record in frame.get("console") or []:
        if not isinstance(record, list | tuple) or len(record) != 2:
            continue
        kind, data = record
        if kind == "stdout":
            out.stdout.write(str(data))
        elif kind == "stderr":
            out.stderr.write(str(data))
        else:
            out.stdout.write(f"----- output record (type: {kind}) -----\n{data}\n")
            out.stdout.write("----- end of record -----\n")
    files = frame.get("files") or []
    if files:
        out.stdout.write("--- generated files ---\n")
        for item in files:
            out.stdout.write(f"{item.get('name')}: {item.get('url')}\n")
        out.stdout.write("--- end of generated files ---\n")
    out.stdout.flush()
    out.stderr.flush()


_STEP_MESSAGES = {
    "clean-finished": "Clean finished.",
    "build-finished": "Build finished.",
    "finished": "Execution finished.",
}


async def execute(
    cs: AsyncComputeSession,
    mode: str,
    code: str,
    out: CaseOutput,
    *,
    opts: Mapping[str, Any] | None = None,
    interrupts: InterruptHandler | None = None,
) -> int | None:
    """Run code in ``cs``, printing its output as it comes, until it finishes; the
    ``finished`` frame's exit code (None if the server sent none)."""

    async def answer(frame: dict[str, Any]) -> str:
        options = frame.get("options") or {}
        return await read_line(password=bool(options.get("is_password", False)))

    exit_code: int | None = None
    with interrupts.executing(cs) if interrupts is not None else _nothing():
        async for frame in cs.stream_execute(code, mode, opts, input_provider=answer):
            write_frame(frame, out)
            status = str(frame.get("status"))
            message = _STEP_MESSAGES.get(status)
            if message is not None:
                out.step_done(f"{message} (exit code = {frame.get('exitCode')})")
            if status == "finished":
                code_value = frame.get("exitCode")
                exit_code = code_value if isinstance(code_value, int) else None
    return exit_code


def exit_status(code: int | None) -> int:
    """The process exit status for a program's exit code, as ``docker run`` gives it.

    Codes outside 1-255 (a negative signal number, a Windows code) become 1: the shell
    would see them modulo 256, and 256 would read as success.
    """
    if code is None or code == 0:
        return 0
    return code if 0 < code < 256 else 1


@contextmanager
def _nothing() -> Iterator[None]:
    yield


async def read_line(*, password: bool = False) -> str:
    """One line from the terminal, read without blocking the event loop.

    The read runs in a daemon thread rather than the loop's executor: an abandoned read
    (the run was aborted) must not keep the process waiting for a line at exit.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(result: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def work() -> None:
        try:
            if password:
                import getpass

                line = getpass.getpass()
            else:
                line = input()
        except EOFError:
            error = BackendClientError(
                "The program asked for input, but the standard input is closed."
            )
            loop.call_soon_threadsafe(deliver, None, error)
        except BaseException as e:  # handed over to the loop, whatever it is
            loop.call_soon_threadsafe(deliver, None, e)
        else:
            loop.call_soon_threadsafe(deliver, line, None)

    threading.Thread(target=work, name="backendai-stdin", daemon=True).start()
    return await future


@dataclass
class InterruptHandler:
    """Ctrl-C while code runs: interrupt it first, abort the command on the second press."""

    task: asyncio.Task[Any]
    running: set[AsyncComputeSession] = field(default_factory=set)
    presses: int = 0
    _pending: set[asyncio.Task[None]] = field(default_factory=set)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT on the running loop (where the platform allows it)."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.on_sigint)
        except (NotImplementedError, RuntimeError):  # e.g. Windows: plain KeyboardInterrupt
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    @contextmanager
    def executing(self, cs: AsyncComputeSession) -> Iterator[None]:
        self.running.add(cs)
        try:
            yield
        finally:
            self.running.discard(cs)

    def on_sigint(self) -> None:
        self.presses += 1
        if self.presses > 1 or not self.running:
            self.task.cancel()
            return
        print_warn("Interrupting the running code... (press Ctrl-C again to abort)")
        for cs in list(self.running):
            job = asyncio.get_running_loop().create_task(self._interrupt(cs))
            self._pending.add(job)
            job.add_done_callback(self._pending.discard)

    async def _interrupt(self, cs: AsyncComputeSession) -> None:
        try:
            await cs.interrupt()
        except BackendError as e:
            print_fail(
                f"The server could not interrupt the code: {e} (press Ctrl-C again to abort)"
            )


def run_until_done(main: Callable[[], Any]) -> int:
    """``asyncio.run(main())``; 130 when the user aborted it with Ctrl-C."""
    try:
        result = asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        print_fail("Aborted.")
        return 130
    return int(result or 0)
