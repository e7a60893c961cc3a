"""Host grants as admins write them: ``HOST`` or ``HOST:PERM+PERM``."""

from __future__ import annotations

import pytest

from backendai.common.vfolders import (
    VFOLDER_HOST_PERMISSIONS,
    folder_name_problem,
    format_host_grants,
    parse_host_grants,
)


def test_a_bare_host_grants_every_permission_and_a_list_only_those() -> None:
    grants = parse_host_grants(["local", "nfs:mount-in-session+download-file"])
    assert grants == {
        "local": list(VFOLDER_HOST_PERMISSIONS),
        "nfs": ["mount-in-session", "download-file"],  # in the canonical order
    }
    assert format_host_grants(grants) == ["local", "nfs:mount-in-session+download-file"]
    assert parse_host_grants(format_host_grants(grants)) == grants


@pytest.mark.parametrize(
    ("entry", "says"),
    [("local:", "not a vfolder host grant"), (":upload-file", "not a vfolder host grant"),
     ("local:upload-file+fly", "Unknown vfolder host permission 'fly'")],
)  # fmt: skip
def test_bad_grants_say_what_is_wrong(entry: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_host_grants([entry])


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\nb", "x" * 65, "nul\0"])
def test_bad_folder_names(name: str) -> None:
    assert folder_name_problem(name) is not None


def test_good_folder_names() -> None:
    for name in ("myfolder", ".ssh", "data-2024_v1.0"):
        assert folder_name_problem(name) is None
