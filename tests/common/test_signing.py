from datetime import datetime

import pytest

from backendai.common import signing

AK = "AKIAIOSFODNN7EXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


# The vectors of API_CONTRACT.md §1.4, made with the official client's own signer.
@pytest.mark.parametrize(
    ("method", "host", "rel_url", "date", "ctype", "expected"),
    [
        (
            "GET", "127.0.0.1:8081", "/manager/announcement",
            "2021-09-01T12:34:56.789012+00:00", "text/plain",
            "468e1cf44207cead104fa89331a185fcf4c305fcd6a00f86d7c767680b9357a1",
        ),
        (
            "POST", "api.example.com", "/session",
            "2021-09-01T23:59:59.000001+00:00", "application/json",
            "29773be190f81fd1ca7233af58a9b2ca20dda44ce5ae4030b64582e03edd42f0",
        ),
        (
            "GET", "127.0.0.1:8081", "/events/session?sessionName=mysess&scope=*",
            "2021-09-02T00:00:00.500000+00:00", "application/octet-stream",
            "2d7c457fcf6ea04f27e2b2454fc65d69c92266a358660993c8a95a58a4593659",
        ),
    ],
)  # fmt: skip
def test_official_client_vectors(
    method: str, host: str, rel_url: str, date: str, ctype: str, expected: str
) -> None:
    sig = signing.sign(
        SK,
        method=method,
        rel_url=rel_url,
        date=datetime.fromisoformat(date),
        date_header=date,
        host=host,
        content_type=ctype,
    )
    assert sig == expected


def test_signed_headers_round_trip() -> None:
    now = datetime.fromisoformat("2021-09-01T12:34:56.789012+00:00")
    headers = signing.signed_headers(
        AK, SK, method="GET", rel_url="/manager/announcement", host="127.0.0.1:8081",
        content_type="text/plain", now=now,
    )  # fmt: skip
    assert headers["Date"] == "2021-09-01T12:34:56.789012+00:00"
    assert headers["X-BackendAI-Version"] == "v6.20210815"
    method, ak, sig = signing.parse_authorization(headers["Authorization"])
    assert (method, ak) == ("HMAC-SHA256", AK)
    assert sig == "468e1cf44207cead104fa89331a185fcf4c305fcd6a00f86d7c767680b9357a1"


@pytest.mark.parametrize(
    ("header", "complaint"),
    [
        ("Bearer abc", "scheme"),
        ("BackendAI signMethod=HMAC-SHA256", "credential"),
        ("BackendAI signMethod=HMAC-SHA256, credential=AKONLY", "credential"),
        ("BackendAI garbage", "malformed"),
    ],
)
def test_parse_authorization_says_what_is_wrong(header: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        signing.parse_authorization(header)
