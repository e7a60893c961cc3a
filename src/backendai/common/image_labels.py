"""The labels session images carry (Backend.AI's image conventions), read by the agent and by
the manager: spelled here once."""

from __future__ import annotations

# An image that can run kernels (the only ones the agent lists and the manager registers).
LABEL_KERNELSPEC = "ai.backend.kernelspec"
# The apps it serves: "name:protocol:port,...", e.g. "jupyter:http:8080,ttyd:http:7681".
LABEL_SERVICE_PORTS = "ai.backend.service-ports"
# The least of a slot a session of it needs: ai.backend.resource.min.<slot> = amount.
LABEL_RESOURCE_MIN = "ai.backend.resource.min."
LABEL_FEATURES = "ai.backend.features"
LABEL_ACCELERATORS = "ai.backend.accelerators"
# Set on a committed image: the session it was made from.
LABEL_COMMITTED_FROM = "ai.backend.image.committed-from"
