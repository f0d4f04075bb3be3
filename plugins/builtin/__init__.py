"""The product's own features, each a plain plugin registered exactly like a third-party one."""
