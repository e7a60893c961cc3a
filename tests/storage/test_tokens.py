"""Transfer tokens: forged, expired, of another op, or missing are refused, as problems."""

from __future__ import annotations

import time
import uuid

import jwt

from backendai.common import storage_protocol as sp
from backendai.storage.tokens import Grant, TokenSigner
from tests.storage.conftest import TOKEN, Storage


def _grant(vfid: uuid.UUID, op: str = "download", exp: int | None = None) -> Grant:
    return Grant(op=op, volume="local", vfid=vfid, path="f", size=1,  # type: ignore[arg-type]
                 upload_id=uuid.uuid4().hex, quota=0, exp=exp or int(time.time()) + 60)  # fmt: skip


async def _refused(storage: Storage, method: str, route: str, token: str | None) -> dict[str, str]:
    url = route if token is None else f"{route}?token={token}"
    headers = {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    resp = await storage.client.request(method, url, data=b"x", headers=headers)
    assert resp.status in (401, 403), resp.status
    assert resp.content_type == "application/problem+json"
    doc: dict[str, str] = await resp.json() if method != "HEAD" else {}
    assert "Traceback" not in doc.get("msg", "")
    return doc


async def test_forged_expired_wrong_op_and_missing_tokens(storage: Storage) -> None:
    vfid = await storage.folder()
    (storage.dir(vfid) / "f").write_bytes(b"secret")
    good = TokenSigner(TOKEN)
    forged_key = TokenSigner(TOKEN + "-other").sign(_grant(vfid))
    doc = await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, forged_key)
    assert doc["type"].endswith("auth-failed")
    # Claims edited without the key: the signature no longer matches.
    header, _, sig = good.sign(_grant(vfid)).split(".")
    claims = jwt.utils.base64url_encode(b'{"op":"download","volume":"local","path":"../x"}')
    await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, f"{header}.{claims.decode()}.{sig}")
    # Unsigned ("alg": "none") tokens are not accepted.
    none = jwt.encode({"op": "download", "volume": "local", "vfid": vfid.hex, "path": "f",
                       "exp": int(time.time()) + 60}, key=None, algorithm="none")  # fmt: skip
    await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, none)
    expired = good.sign(_grant(vfid, exp=int(time.time()) - 5))
    doc = await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, expired)
    assert "expired" in doc["msg"]
    upload_token = good.sign(_grant(vfid, op="upload"))
    doc = await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, upload_token)
    assert doc["type"].endswith("insufficient-privilege")
    doc = await _refused(storage, "PATCH", sp.ROUTE_UPLOAD, good.sign(_grant(vfid)))
    assert doc["type"].endswith("insufficient-privilege")
    await _refused(storage, "GET", sp.ROUTE_DOWNLOAD, None)
    await _refused(storage, "HEAD", sp.ROUTE_UPLOAD, "garbage")
    # And the genuine token works.
    resp = await storage.client.get(f"{sp.ROUTE_DOWNLOAD}?token={good.sign(_grant(vfid))}")
    assert await resp.read() == b"secret"


async def test_tickets_need_the_storage_token(storage: Storage) -> None:
    vfid = await storage.folder()
    body = {"volume": "local", "vfid": str(vfid), "path": "f", "size": 1}
    resp = await storage.client.post(sp.ROUTE_FILE_UPLOAD, json=body)
    assert resp.status == 401
    assert (await resp.json())["type"].endswith("auth-failed")
