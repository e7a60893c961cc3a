"""Function groups of the SDK: one module per API resource (``session.KeyPair``, ...)."""
