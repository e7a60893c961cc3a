"""The ``backend.ai`` command line interface, built on the SDK only (one module per group)."""
