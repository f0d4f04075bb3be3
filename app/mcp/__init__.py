"""Reaching mistral-executor from other programs: the MCP server and the shared request handling.

``service`` holds the plain functions behind every remote door (the MCP tools and the web app's
public API): validate the request, run it under the same caps as the UI, and turn the result into
JSON. ``server`` wraps them as MCP tools (``mistral-executor mcp``). Neither imports gradio, so
the stdio server starts fast.
"""
