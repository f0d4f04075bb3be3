"""Web search: Mistral's ``web_search`` connector, falling back to ``ddgs`` (DuckDuckGo and others).

Results always come back as numbered entries with a title, a URL and a snippet, so the model can
cite them. Without a network the tool says so plainly; a search failing must never fail a run.
``MISTRAL_EXECUTOR_WEB_SEARCH=web_search_premium`` selects Mistral's premium connector, and
``DDGS_PROXY`` (read by ``ddgs`` itself) routes the local search through a proxy.
"""

from __future__ import annotations

from typing import Any

from mistral_executor.settings import get_settings
from plugins import Connector, ConnectorContext, Tool, ToolOutput, hookimpl
from plugins.mistral_agents import run_connector

INSTRUCTIONS = "Search the web for the user's query and answer briefly. Cite every source you use."


class WebSearch(Connector):
    name = "web_search"
    description = "Search the web: Mistral web_search, else DuckDuckGo and others through ddgs."

    @property
    def mistral_tool(self) -> str:  # type: ignore[override]
        return get_settings().web_search  # MISTRAL_EXECUTOR_WEB_SEARCH

    def tools(self, ctx: ConnectorContext) -> list[Tool]:
        def web_search(query: str, max_results: int = 5) -> ToolOutput:
            """Search the web and return results with titles, URLs and snippets to cite.

            Args:
                query: what to search for, as you would type it into a search engine.
                max_results: how many results to return (1-10).
            """
            return self.serve(ctx, query=query, max_results=max(1, min(max_results, 10)))

        return [Tool.from_function(web_search, timeout_s=max(ctx.timeout_s, 30.0))]

    def primary(self, ctx: ConnectorContext, *, query: str, max_results: int = 5) -> ToolOutput:
        reply = run_connector(ctx, {"type": self.mistral_tool}, query, INSTRUCTIONS)
        citations = reply.citations[:max_results]
        lines = [reply.text, ""] if reply.text else []
        lines += _numbered(citations)
        return ToolOutput(
            text="\n".join(lines).strip(),
            citations=citations,
            data={"engine": self.mistral_tool, "query": query},
        )

    def fallback(self, ctx: ConnectorContext, *, query: str, max_results: int = 5) -> ToolOutput:
        from ddgs import DDGS
        from ddgs.exceptions import DDGSException

        try:
            hits = DDGS(timeout=int(min(ctx.timeout_s, 10))).text(query, max_results=max_results)
        except DDGSException as exc:
            detail = str(exc).strip() or type(exc).__name__
            if "no results" in detail.lower():
                return ToolOutput(
                    text=f"No web results for {query!r}.", data={"engine": "ddgs", "query": query}
                )
            return ToolOutput(
                text=f"Web search is unavailable (no internet connection or the search engines "
                f"did not answer), so no results for {query!r}. Continue without web results. "
                f"Details: {detail[:300]}",
                ok=False,
                data={"engine": "ddgs", "query": query},
            )
        citations = [_citation(hit) for hit in hits][:max_results]
        if not citations:
            return ToolOutput(
                text=f"No web results for {query!r}.", data={"engine": "ddgs", "query": query}
            )
        text = "\n".join([f"Web results for {query!r}:", *_numbered(citations)])
        return ToolOutput(text=text, citations=citations, data={"engine": "ddgs", "query": query})


def _citation(hit: dict[str, Any]) -> dict[str, str]:
    return {
        "title": str(hit.get("title", "")),
        "url": str(hit.get("href") or hit.get("url", "")),
        "snippet": str(hit.get("body", "")),
        "source": "ddgs",
    }


def _numbered(citations: list[dict[str, str]]) -> list[str]:
    lines = []
    for number, item in enumerate(citations, 1):
        lines.append(f"[{number}] {item['title']}\n    {item['url']}")
        if item.get("snippet"):
            lines.append(f"    {item['snippet']}")
    return lines


@hookimpl
def register_connectors(register: Any) -> None:
    register(WebSearch())
