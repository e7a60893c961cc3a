"""The ``/folders`` routes of the fake manager (docs/vfolders.md) and the storage process's
``/upload`` (tus 1.0 ``PATCH``/``HEAD``) and ``/download`` (``GET`` with ``Range``), in memory.

Tests script failures: ``fail_patch_at`` answers 500 once to the first ``PATCH`` that starts
at or past that offset (nothing of it is kept); ``conflicts`` answers that many ``PATCH``es
409; ``cut_download_at`` ends the first download
answer after that many bytes (the connection drops mid-body).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.client.fake_server import problem

if TYPE_CHECKING:
    from tests.client.fake_server import FakeBackend

MTIME = 1630497600.0  # 2021-09-01T12:00:00Z
OWNER = "dfa9da54-4b28-432f-be29-c0d680c7a412"
EMAIL = "user@example.com"


@dataclass
class Folder:
    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    host: str = "local"
    permission: str = "rw"
    usage_mode: str = "general"
    cloneable: bool = False
    quota: int = 0
    is_owner: bool = True
    trashed: bool = False
    files: dict[str, bytes] = field(default_factory=dict)
    dirs: set[str] = field(default_factory=set)
    shared: dict[str, str] = field(default_factory=dict)  # email -> permission

    def item(self) -> dict[str, Any]:
        return {
            "name": self.name, "id": self.id, "host": self.host, "usage_mode": self.usage_mode,
            "created_at": "2021-09-01 12:00:00+00:00", "is_owner": self.is_owner,
            "permission": self.permission, "user": OWNER, "group": None, "creator": EMAIL,
            "user_email": EMAIL, "group_name": None, "ownership_type": "user", "type": "user",
            "cloneable": self.cloneable, "used_bytes": sum(len(b) for b in self.files.values()),
            "num_files": len(self.files), "quota": self.quota,
            "status": "trashed" if self.trashed else "ready", "trashed_at": None,
        }  # fmt: skip


@dataclass
class Upload:
    folder: Folder
    path: str
    size: int
    data: bytearray = field(default_factory=bytearray)


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:16] + '"'


@dataclass
class FolderRoutes:
    backend: FakeBackend
    storage_url: str = ""
    folders: list[Folder] = field(default_factory=list)
    uploads: dict[str, Upload] = field(default_factory=dict)  # token -> upload
    downloads: dict[str, tuple[Folder, str]] = field(default_factory=dict)
    invitations: list[dict[str, Any]] = field(default_factory=list)
    fail_patch_at: int | None = None
    conflicts: int = 0  # PATCHes to answer 409 (as when another PATCH is in flight)
    cut_download_at: int | None = None
    patches: list[int] = field(default_factory=list)  # Upload-Offset of each PATCH
    ranges: list[str | None] = field(default_factory=list)  # Range of each download

    def add(self, name: str, **kwargs: Any) -> Folder:
        folder = Folder(name, **kwargs)
        self.folders.append(folder)
        return folder

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        for prefix in ("", "/func"):
            r.add_get(prefix + "/folders/_/hosts", self._hosts)
            r.add_get(prefix + "/folders/_/all_hosts", self._hosts)
            r.add_get(prefix + "/folders/_/allowed_types", self._types)
            r.add_get(prefix + "/folders/invitations/list", self._invitations)
            r.add_post(prefix + "/folders/invitations/accept", self._answer)
            r.add_delete(prefix + "/folders/invitations/delete", self._answer)
            r.add_post(prefix + "/folders", self._create)
            r.add_get(prefix + "/folders", self._list)
            r.add_route("*", prefix + "/folders/{name}", self._folder)
            r.add_route("*", prefix + "/folders/{name}/{action}", self._action)
        r.add_route("PATCH", "/upload", self._patch)
        r.add_route("HEAD", "/upload", self._head)
        r.add_get("/download", self._download)

    # -- helpers -----------------------------------------------------------------------

    def find(self, ref: str, *, trashed: bool = False) -> Folder | None:
        for folder in self.folders:
            if folder.trashed == trashed and ref in (folder.name, folder.id):
                return folder
        return None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        return json.loads(raw) if raw else {}

    # -- folders -----------------------------------------------------------------------

    async def _hosts(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        volume = {"backend": "vfs", "capabilities": ["vfolder"],
                  "usage": {"capacity_bytes": 10**12, "used_bytes": 10**9}}  # fmt: skip
        return web.json_response(
            {"default": "local", "allowed": ["local"], "volume_info": {"local": volume}}
        )

    async def _types(self, request: web.Request) -> web.Response:
        return self.backend._authenticate(request) or web.json_response(["user", "group"])

    async def _create(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        body = await self._body(request)
        if self.find(body["name"]) is not None:
            return problem(400, "vfolder-already-exists", "The vfolder already exists.")
        if body.get("host") not in (None, "local"):
            msg = "You are not allowed to use this vfolder host."
            return problem(400, "invalid-api-params", "Invalid API parameters.", msg)
        folder = self.add(
            body["name"], permission=body.get("permission", "rw"),
            usage_mode=body.get("usage_mode", "general"), cloneable=body.get("cloneable", False),
        )  # fmt: skip
        return web.json_response(folder.item(), status=201)

    async def _list(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        trash = bool((await self._body(request)).get("trash"))
        return web.json_response([f.item() for f in self.folders if f.trashed == trash])

    async def _folder(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        folder = self.find(request.match_info["name"])
        if folder is None:
            return problem(404, "vfolder-not-found", "Virtual folder not found.")
        if request.method == "DELETE":
            folder.trashed = True
            return web.Response(status=204)
        info = folder.item() | {"numFiles": len(folder.files), "created": "2021-09-01"}
        shared = [{"email": e, "permission": p} for e, p in folder.shared.items()]
        return web.json_response(info | {"shared_with": shared})

    async def _action(self, request: web.Request) -> web.StreamResponse:
        if denied := self.backend._authenticate(request):
            return denied
        action = request.match_info["action"].replace("-", "_")
        body = await self._body(request)
        trashed = action in ("restore", "purge")
        folder = self.find(request.match_info["name"], trashed=trashed)
        if folder is None:
            return problem(404, "vfolder-not-found", "Virtual folder not found.")
        handler = getattr(self, f"_do_{request.method.lower()}_{action}", None)
        if handler is None:
            return problem(404, "generic-not-found", "No such API.")
        result: web.StreamResponse = await handler(folder, body)
        return result

    async def _do_post_restore(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        if self.find(folder.name) is not None:
            return problem(409, "vfolder-already-exists", "A folder took its name.")
        folder.trashed = False
        return web.json_response(folder.item())

    async def _do_delete_purge(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        self.folders.remove(folder)
        return web.Response(status=204)

    async def _do_post_rename(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        folder.name = body["new_name"]
        return web.json_response({}, status=201)

    async def _do_post_update_options(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        folder.permission = body.get("permission", folder.permission)
        folder.cloneable = body.get("cloneable", folder.cloneable)
        return web.json_response({}, status=201)

    async def _do_post_clone(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        if not folder.cloneable:
            return problem(403, "permission-denied", "The folder is not cloneable.")
        clone = self.add(body["target_name"], permission=body.get("permission", "rw"))
        clone.files = dict(folder.files)
        return web.json_response(clone.item(), status=201)

    async def _do_get_files(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        base = posixpath.normpath(body.get("path", "."))
        items: list[dict[str, Any]] = []
        for path in sorted(folder.dirs | set(folder.files)):
            if posixpath.dirname(path) != ("" if base == "." else base):
                continue
            is_dir = path in folder.dirs
            items.append({
                "name": posixpath.basename(path), "type": "DIRECTORY" if is_dir else "FILE",
                "size": 0 if is_dir else len(folder.files[path]),
                "mode": "755" if is_dir else "644",
                "created": "2021-09-01T12:00:00+00:00", "modified": "2021-09-01T12:00:00+00:00",
            })  # fmt: skip
        files = [
            {"filename": i["name"], "size": i["size"], "mtime": MTIME, "ctime": MTIME,
             "atime": 0, "mode": "drwxr-xr-x" if i["type"] == "DIRECTORY" else "-rw-r--r--"}
            for i in items
        ]  # fmt: skip
        return web.json_response({"items": items, "files": json.dumps(files)})

    async def _do_post_mkdir(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        path = body["path"]
        if path in folder.dirs and not body.get("exist_ok"):
            return problem(400, "invalid-api-params", "Invalid API parameters.", "exists")
        parts = path.split("/")
        folder.dirs.update("/".join(parts[: n + 1]) for n in range(len(parts)))
        return web.json_response({}, status=201)

    async def _do_delete_delete_files(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        for path in body["files"]:
            if path in folder.dirs:
                inside = [p for p in folder.files if p.startswith(path + "/")]
                if inside and not body.get("recursive"):
                    msg = f"{path} is a directory"
                    return problem(400, "invalid-api-params", "Invalid API parameters.", msg)
                for p in inside:
                    del folder.files[p]
                folder.dirs.discard(path)
            elif folder.files.pop(path, None) is None:
                return problem(404, "vfolder-file-not-found", "No such file.")
        return web.json_response({})

    async def _do_post_rename_file(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        old = body["target_path"]
        new = posixpath.join(posixpath.dirname(old), body["new_name"])
        folder.files[new] = folder.files.pop(old)
        return web.json_response({})

    def _dest(self, folder: Folder, src: str, dst: str) -> str:
        return posixpath.join(dst, posixpath.basename(src)) if dst in folder.dirs else dst

    async def _do_post_move_file(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        src = body["src"]
        folder.files[self._dest(folder, src, body["dst"])] = folder.files.pop(src)
        return web.json_response({})

    async def _do_post_copy_file(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        src = body["src"]
        folder.files[self._dest(folder, src, body["dst"])] = folder.files[src]
        return web.json_response({})

    async def _do_post_request_upload(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        token = uuid.uuid4().hex
        self.uploads[token] = Upload(folder, body["path"], int(body["size"]))
        if int(body["size"]) == 0:
            folder.files[body["path"]] = b""
        return web.json_response({"token": token, "url": f"{self.storage_url}/upload"})

    async def _do_post_request_download(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        if body["path"] not in folder.files:
            return problem(404, "vfolder-file-not-found", "No such file.")
        token = uuid.uuid4().hex
        self.downloads[token] = (folder, body["path"])
        return web.json_response({"token": token, "url": f"{self.storage_url}/download"})

    # -- sharing -----------------------------------------------------------------------

    async def _do_post_invite(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        invited = [e for e in body["user_ids"] if "@" in e]
        for email in invited:
            self.invitations.append({
                "id": uuid.uuid4().hex, "inviter": EMAIL, "invitee": email, "perm": body["perm"],
                "state": "pending", "created_at": "2021-09-01T12:00:00+00:00",
                "vfolder_id": folder.id, "vfolder_name": folder.name,
            })  # fmt: skip
        return web.json_response({"invited_ids": invited}, status=201)

    async def _invitations(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        return web.json_response({"invitations": self.invitations})

    async def _answer(self, request: web.Request) -> web.Response:
        if denied := self.backend._authenticate(request):
            return denied
        inv_id = (await self._body(request))["inv_id"]
        found = [i for i in self.invitations if i["id"] == inv_id]
        if not found:
            return problem(404, "object-not-found", "No such invitation.")
        self.invitations.remove(found[0])
        if request.method == "POST":
            self.add(found[0]["vfolder_name"] + "-shared", is_owner=False)
        return web.json_response({})

    async def _do_post_share(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        for email in body["emails"]:
            folder.shared[email] = body["permission"]
        return web.json_response({"shared_emails": body["emails"]}, status=201)

    async def _do_delete_unshare(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        gone = [e for e in body["emails"] if folder.shared.pop(e, None) is not None]
        return web.json_response({"unshared_emails": gone})

    async def _do_post_leave(self, folder: Folder, body: dict[str, Any]) -> web.Response:
        if folder.is_owner:
            return problem(400, "invalid-api-params", "Invalid API parameters.", "own folder")
        self.folders.remove(folder)
        return web.json_response({})

    # -- storage -----------------------------------------------------------------------

    async def _head(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.query.get("token", ""))
        if upload is None:
            return web.Response(status=404)
        headers = {"Upload-Offset": str(len(upload.data)), "Upload-Length": str(upload.size),
                   "Tus-Resumable": "1.0.0", "Cache-Control": "no-store"}  # fmt: skip
        return web.Response(status=200, headers=headers)

    async def _patch(self, request: web.Request) -> web.Response:
        token = request.query.get("token", "")
        upload = self.uploads.get(token)
        if upload is None:
            return web.Response(status=404)
        offset = int(request.headers["Upload-Offset"])
        self.patches.append(offset)
        chunk = await request.read()
        if self.fail_patch_at is not None and offset >= self.fail_patch_at:
            self.fail_patch_at = None
            return web.Response(status=500, text="storage hiccup")
        if self.conflicts:
            self.conflicts -= 1
            return web.Response(status=409, headers={"Upload-Offset": str(len(upload.data))})
        if offset != len(upload.data):
            return web.Response(status=409, text="offset mismatch")
        upload.data.extend(chunk)
        if len(upload.data) >= upload.size:
            upload.folder.files[upload.path] = bytes(upload.data)
            del self.uploads[token]
        return web.Response(status=204, headers={"Upload-Offset": str(len(upload.data))})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        found = self.downloads.get(request.query.get("token", ""))
        if found is None:
            return web.Response(status=404)
        folder, path = found
        data = folder.files[path]
        etag = _etag(data)
        self.ranges.append(request.headers.get("Range"))
        start, status = 0, 200
        wanted = request.headers.get("Range")
        if wanted and request.headers.get("If-Range", etag) == etag:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                return web.Response(status=416)
            status = 206
        body = data[start:]
        headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Length": str(len(body))}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        response = web.StreamResponse(status=status, headers=headers)
        await response.prepare(request)
        if self.cut_download_at is not None:
            cut, self.cut_download_at = self.cut_download_at, None
            await response.write(body[:cut])
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(body)
        await response.write_eof()
        return response
