"""``session.Auth``: log in to and out of a webserver (session mode)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backendai.client import local_state
from backendai.client.exceptions import BackendClientError
from backendai.client.func.binding import FunctionGroup, M, api_function
from backendai.client.request import Request


@dataclass
class LoginResult:
    """The webserver's answer to a login; ``state`` is what to keep when it succeeded."""

    authenticated: bool
    data: dict[str, Any]
    state: local_state.LoginState


class Auth(FunctionGroup[M]):
    @api_function
    async def login(self, user_id: str, password: str) -> LoginResult:
        """``POST /server/login``; on success the cookies are saved for later runs."""
        rqst = Request(
            self.session, "POST", "/server/login", json={"username": user_id, "password": password}
        )
        resp = await rqst.fetch(anonymous=True)
        body = resp.json()
        if not isinstance(body, dict) or "authenticated" not in body:
            raise BackendClientError(f"The login answer has no 'authenticated' field: {body!r}")
        state = local_state.LoginState.from_response_cookies(
            resp.cookies, username=user_id, endpoint=self.session.current_endpoint
        )
        authenticated = bool(body["authenticated"])
        if authenticated:
            self.session.use_login(state)
            local_state.save(state, self.session.state_dir)
        data = body.get("data")
        return LoginResult(authenticated, data if isinstance(data, dict) else {}, state)

    @api_function
    async def logout(self) -> None:
        """``POST /server/logout``, then forget the saved cookies."""
        await Request(self.session, "POST", "/server/logout").fetch()
        local_state.clear(self.session.state_dir)

    @api_function
    async def update_password(
        self, old_password: str, new_password: str, new_password2: str
    ) -> dict[str, Any]:
        """``POST /auth/update-password``: change the requester's own password."""
        body = {
            "old_password": old_password,
            "new_password": new_password,
            "new_password2": new_password2,
        }
        resp = await Request(self.session, "POST", "/auth/update-password", json=body).fetch()
        answer = resp.json()
        return answer if isinstance(answer, dict) else {}
