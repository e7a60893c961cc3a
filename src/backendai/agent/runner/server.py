"""The runner's socket server and entry point (``python3 -m runner --socket PATH``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading

from .channels import Message, Peer, log
from .execution import Interpreter, Run
from .services import Services, connect


class Runner:
    def __init__(self, socket_path: str, workdir: str) -> None:
        self.socket_path, self.workdir = socket_path, workdir
        self.interp = Interpreter(workdir)
        self.lock = threading.Lock()  # the interpreter's; service ops never take it
        self.services = Services(workdir)

    def serve_forever(self) -> None:
        with self.lock:
            self.interp.ensure()  # warm before the first run
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        temporary = self.socket_path + ".new"
        if os.path.exists(temporary):
            os.unlink(temporary)
        server.bind(temporary)
        os.chmod(temporary, 0o600)
        server.listen(16)
        # Renamed into place only once listening, so the agent's probe never sees a dead socket
        # (a restarted container finds the previous socket file there).
        os.rename(temporary, self.socket_path)
        log(f"ready on {self.socket_path}")
        # A signal may be delivered to any thread; Python runs its handler (SIGTERM: exit) only
        # in the main thread, which would sleep on in accept(). The wakeup fd wakes it.
        wake_r, wake_w = socket.socketpair()
        wake_w.setblocking(False)
        signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        sel = selectors.DefaultSelector()
        sel.register(server, selectors.EVENT_READ)
        sel.register(wake_r, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in sel.select():
                    if key.fileobj is wake_r:
                        wake_r.recv(512)  # the handler itself runs as we return to Python
                        continue
                    conn, _ = server.accept()
                    threading.Thread(target=self.serve, args=(conn,), daemon=True).start()
        finally:
            self.interp.close()

    def serve(self, conn: socket.socket) -> None:
        peer = Peer(conn)
        # We speak first: the agent talks only to a socket that greets it like this, never to
        # whatever a user's symlink in the ipc directory might point it at.
        peer.send({"op": "hello", "protocol": 1})
        try:
            while (message := peer.next()) is not None:
                if message.get("op") == "ping":
                    peer.send({"op": "pong"})
                elif message.get("op") == "configure":
                    with self.lock:
                        self.configure(dict(message.get("environ") or {}))
                    peer.send({"op": "configured"})
                elif message.get("op") == "run":
                    with self.lock:
                        self.run(peer, message)
                elif message.get("op") == "describe-services":
                    peer.send(self.services.describe(message.get("names")))
                elif message.get("op") == "start-service":
                    peer.send(self.services.start(message))
                elif message.get("op") == "stop-service":
                    peer.send(self.services.stop(message.get("name")))
                elif message.get("op") == "connect":
                    connect(peer, message)
                    break  # the link has done its one job: the agent holds the connection
        except Exception as e:  # a broken peer must not take the runner down
            log(f"connection error: {e!r}")
        finally:
            conn.close()

    def configure(self, environ: dict[str, str]) -> None:
        """A warm pool container becomes a kernel: its session's environment, from now on, for
        the interpreter (already running) and every command started later."""
        environ = {
            str(k): str(v)
            for k, v in environ.items()
            if k and "=" not in str(k) and "\0" not in f"{k}{v}"
        }
        os.environ.update(environ)
        self.interp.configure(environ)
        log(f"configured ({len(environ)} variables)")

    def run(self, peer: Peer, message: Message) -> None:
        run = Run(peer, self.workdir)
        if message.get("mode") == "batch":
            run.batch(dict(message.get("options") or {}))
        else:
            run.query(self.interp, str(message.get("code", "")))


def populate_home(workdir: str, skel: str) -> None:
    """The home dir is a fresh host directory: give it the image's dotfiles once."""
    if not os.path.isdir(skel):
        return
    for name in os.listdir(skel):
        src, dst = os.path.join(skel, name), os.path.join(workdir, name)
        try:
            if os.path.lexists(dst):
                continue
            if os.path.isdir(src):
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
        except OSError as e:
            log(f"could not copy {src}: {e}")


def is_mount_point(path: str) -> bool:
    """Is ``path`` where something is mounted? A bind mount from the same host filesystem has
    the same device as its parent, so ``os.path.ismount`` cannot tell; the mount table can."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as table:
            # Field 5 is the mount point, with spaces and the like escaped as octal.
            points = {line.split()[4].encode().decode("unicode_escape") for line in table}
    except OSError:
        return os.path.ismount(real)
    return real in points


def make_ssh_keypair(workdir: str) -> None:
    """A per-session SSH key: ``id_container`` (the private half, which users download to
    ssh in) and its public half in ``.ssh/authorized_keys``. Made once; a restart keeps it."""
    key = os.path.join(workdir, "id_container")
    if os.path.exists(key) or shutil.which("ssh-keygen") is None:
        return
    tmp = os.path.join(workdir, ".id_container.tmp")
    for stale in (tmp, tmp + ".pub"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(stale)
    done = subprocess.run(
        ["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-C",
         "work@backend.ai", "-f", tmp],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        log(f"could not make the SSH key: {done.stderr.decode(errors='replace').strip()}")
        return
    ssh_dir = os.path.join(workdir, ".ssh")
    # The owner's .ssh folder (a virtual folder every session mounts) is kept across sessions:
    # a per-session key appended there would pile up stale keys in it.
    if not is_mount_point(ssh_dir):
        os.makedirs(ssh_dir, mode=0o700, exist_ok=True)
        auth_path = os.path.join(ssh_dir, "authorized_keys")
        with open(tmp + ".pub") as pub, open(auth_path, "a") as auth:
            auth.write(pub.read())
        os.chmod(auth_path, 0o600)
    os.replace(tmp + ".pub", key + ".pub")
    os.replace(tmp, key)  # last: its presence means the pair is complete


def main() -> None:
    parser = argparse.ArgumentParser(description="The Backend.AI-compatible kernel runner.")
    parser.add_argument("--socket", required=True, help="The unix socket to listen on.")
    parser.add_argument("--workdir", default="/home/work", help="Where code runs.")
    parser.add_argument("--skel", default="/etc/skel", help="Dotfiles copied into workdir.")
    args = parser.parse_args()
    os.chdir(args.workdir)
    populate_home(args.workdir, args.skel)
    # In the background: readiness must not wait for an RSA key (~0.1 s).
    threading.Thread(target=make_ssh_keypair, args=(args.workdir,), daemon=True).start()

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    # An ignored SIGINT is inherited through exec: reset it so interrupts reach user code.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    Runner(args.socket, args.workdir).serve_forever()
