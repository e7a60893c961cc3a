"""Pieces shared by every process: no imports of other backendai packages."""
