"""Committing a kernel's container to a private image, and removing private images.

The manager picks the name (``private/<owner uuid>/<name>:<tag>``) and the owner label; the
agent checks both again, so that no request can put a private image over a public one or over
another user's, nor remove anything but a private image.
"""

from __future__ import annotations

import logging
import uuid

from backendai.agent.backends.protocol import ContainerBackend
from backendai.agent.kernels import KernelRegistry
from backendai.common.agent_protocol import (
    LABEL_IMAGE_OWNER,
    PRIVATE_IMAGE_PREFIX,
    CommitRequest,
    ImageInfo,
)
from backendai.common.errors import ImageNotFound, InvalidRequest

log = logging.getLogger(__name__)


def owner_of_name(image: str) -> uuid.UUID:
    """The owner a private image's name carries; InvalidRequest for any other name."""
    if not image.startswith(PRIVATE_IMAGE_PREFIX):
        raise InvalidRequest(f"{image!r} is not a private image name ({PRIVATE_IMAGE_PREFIX}...).")
    owner = image[len(PRIVATE_IMAGE_PREFIX) :].split("/", 1)[0]
    try:
        return uuid.UUID(owner)
    except ValueError:
        raise InvalidRequest(f"{image!r} does not name its owner's UUID.") from None


async def commit(registry: KernelRegistry, kernel_id: uuid.UUID, req: CommitRequest) -> ImageInfo:
    owner = owner_of_name(req.image)
    if req.labels.get(LABEL_IMAGE_OWNER) != str(owner):
        raise InvalidRequest(f"The {LABEL_IMAGE_OWNER} label must be the name's owner, {owner}.")
    backend = registry.backend
    try:
        existing = await backend.image_labels(req.image)
    except ImageNotFound:
        existing = None
    if existing is not None and existing.get(LABEL_IMAGE_OWNER) != str(owner):
        raise InvalidRequest(f"The image {req.image} exists and is not {owner}'s.")
    kernel = registry.get(kernel_id)
    info = await backend.commit(kernel.container_id, req.image, req.labels)
    log.info("kernel %s committed to the image %s", kernel_id, req.image)
    return info


async def remove(backend: ContainerBackend, image: str) -> None:
    owner_of_name(image)
    await backend.remove_image(image)
