"""Kept for imports: the tool model is :mod:`plugins.tool_model`, run by ``plugins.tools``.

One implementation (issue 12): ``FunctionTool`` is ``plugins.Tool``, ``SimpleToolProvider`` is a
``plugins.ToolRegistry``, and the Scout's seam ``ToolProvider`` is defined next to them. Import them
from ``mistral_executor`` (public) or ``plugins.tools``; this module goes once nothing imports it.
"""

from plugins.tools import (
    FunctionTool,
    SimpleToolProvider,
    ToolOutcomeLike,
    ToolProvider,
)

__all__ = ["FunctionTool", "SimpleToolProvider", "ToolOutcomeLike", "ToolProvider"]
