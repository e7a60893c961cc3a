"""Container backends, chosen by short name in the settings (``backend = "docker"``)."""

from __future__ import annotations

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.settings import AgentSettings


def create_backend(settings: AgentSettings) -> ContainerBackend:
    if settings.backend == "fake":
        from backendai.agent.backends.fake import FakeBackend

        return FakeBackend()
    from backendai.agent.backends.docker import DockerBackend

    return DockerBackend(settings.docker_url)
