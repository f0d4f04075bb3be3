"""Modules a test fork-server imports in its warm-up (``--warm``): slow ones and a probe."""
