"""The agent's own errors, in the platform's one error tree (``backendai.common.errors``)."""

from __future__ import annotations

from backendai.common.errors import InternalError, NotFound


class KernelNotFound(NotFound):
    code = "kernel-not-found"
    title = "No such kernel on this agent."


class KernelCreationFailed(InternalError):
    code = "kernel-creation-failed"
    title = "The kernel's container could not be started."


class BackendError(InternalError):
    """The container engine refused or failed an operation."""

    code = "container-backend-error"
    title = "The container engine failed."


class ContainerNotFound(NotFound):
    """Raised by backends; the agent turns it into KernelNotFound where a kernel was meant."""

    code = "container-not-found"
    title = "No such container."


class KernelNotReady(InternalError):
    """The kernel exists but its runner does not answer (its container stopped or restarts)."""

    code = "kernel-not-ready"
    title = "The kernel is not ready."
