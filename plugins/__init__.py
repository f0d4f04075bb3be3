"""Pluggy hookspecs, the plugin manager, the tool registry and the built-in plugins."""
