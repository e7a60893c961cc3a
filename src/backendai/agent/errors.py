"""The agent's own errors, in the platform's one error tree (``backendai.common.errors``)."""

from __future__ import annotations

from backendai.common.errors import InternalError, NotFound, QuotaExceeded


class KernelNotFound(NotFound):
    code = "kernel-not-found"
    title = "No such kernel on this agent."


class TaskNotFound(NotFound):
    code = "task-not-found"
    title = "The kernel has no batch task."


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


class FileOperationTimeout(QuotaExceeded):
    """A file operation of a kernel ran past the agent's time bound, or waited that long for
    the kernel's earlier ones (what a user left in a home must never hold the agent)."""

    code = "file-operation-timeout"
    title = "The file operation took too long."


class DownloadTooLarge(QuotaExceeded):
    code = "download-too-large"
    title = "The download is larger than this agent allows."


class SubnetTaken(BackendError):
    """A network's subnet (or its bridge's name) is already in use on the engine, perhaps
    taken by another agent a moment ago: the caller tries another one."""

    code = "subnet-taken"
    title = "The network's subnet is already in use."


class NetworkExists(BackendError):
    """A network of that name is already on the engine."""

    code = "network-exists"
    title = "A network of that name already exists."


class NetworkPoolExhausted(BackendError):
    code = "network-pool-exhausted"
    title = "No free subnet is left in the agent's network pool."


class FirewallError(BackendError):
    """The host firewall rules that isolate sessions could not be read or installed."""

    code = "firewall-error"
    title = "The host firewall rules could not be installed."
