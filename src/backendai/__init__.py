"""A compute-session platform wire-compatible with Backend.AI's API v6."""

__version__ = "0.1.0"
