"""Fixtures for the vfolder CLI tests: the fake manager with ``/folders`` and storage routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.client.fake_server import FakeBackend, ServerThread
from tests.client.fake_vfolders import FolderRoutes


@pytest.fixture
def folders(backend: FakeBackend) -> FolderRoutes:
    return FolderRoutes(backend)


@pytest.fixture
def server(backend: FakeBackend, folders: FolderRoutes) -> Iterator[str]:
    app = backend.app()
    folders.add_routes(app)
    thread = ServerThread(app)
    folders.storage_url = thread.url
    thread.start()
    yield thread.url
    thread.stop()
