"""Tests of the SDK and the ``backend.ai`` CLI (backendai.client)."""
