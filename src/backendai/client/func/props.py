"""GraphQL ``props`` variables of the admin mutations, built from the payload models of
``backendai.common`` (the ones the manager validates with)."""

from __future__ import annotations

from typing import Any

from backendai.client.exceptions import BackendClientError


def props(model_name: str, **values: Any) -> dict[str, Any]:
    """``values`` (None: not sent, so the server keeps what it has) checked by the payload
    model ``model_name`` of ``backendai.common.identity`` (imported only now: commands that
    change nothing start without pydantic)."""
    from pydantic import BaseModel, ValidationError

    from backendai.common import identity

    model = getattr(identity, model_name)
    assert isinstance(model, type) and issubclass(model, BaseModel)
    given = {k: v for k, v in values.items() if v is not None}
    try:
        checked = model.model_validate(given)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise BackendClientError(f"Invalid arguments: {problems}.") from None
    return checked.model_dump(mode="json", exclude_unset=True)


def result(data: dict[str, Any], field: str) -> dict[str, Any]:
    answer = data.get(field)
    if not isinstance(answer, dict):
        raise BackendClientError(f"The server's answer has no {field}: {data!r}")
    return answer
