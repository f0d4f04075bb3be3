"""Document library: Mistral libraries, falling back to a local index of the uploaded files.

Uploads always go to the local index (so search keeps working offline) and, when Mistral's
``document_library`` connector is enabled, to a Mistral library as well. ``search_documents``
answers with the passages found and cites each by file and chunk.

The app uploads through :func:`upload_document` (or the connector's ``upload``); the model only
ever searches.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from plugins import Connector, ConnectorContext, Tool, ToolOutput, hookimpl
from plugins.connectors import describe_error
from plugins.doc_index import DocumentIndex, Embedder, Hit
from plugins.mistral_agents import run_connector

INSTRUCTIONS = (
    "Answer from the documents in the library only. Cite the document for every fact you use."
)
LIBRARY_NAME = "mistral-executor"
SNIPPET_CHARS = 600


class DocumentLibrary(Connector):
    name = "document_library"
    description = "Search uploaded documents: Mistral libraries, else a local embedding/BM25 index."
    mistral_tool = "document_library"

    def __init__(self) -> None:
        self._indexes: dict[Path, DocumentIndex] = {}
        self._lock = threading.Lock()

    def index(self, ctx: ConnectorContext) -> DocumentIndex:
        directory = Path(ctx.home) / "documents"
        with self._lock:
            if directory not in self._indexes:
                self._indexes[directory] = DocumentIndex(directory)
            return self._indexes[directory]

    def upload(self, ctx: ConnectorContext, name: str, data: bytes) -> ToolOutput:
        """Index a TXT/MD/PDF file locally and, when enabled, in the Mistral library."""
        index = self.index(ctx)
        record = index.add(name, data, embed=_embedder(ctx))
        how = "embedded with " + ctx.embed_model if record["embedded"] else "BM25 only"
        text = f"Indexed {record['name']}: {record['chunks']} chunk(s) locally ({how})."
        reason = ctx.mistral_unavailable_reason(self.name)
        served_by = "local"
        if reason is None:
            try:
                document_id = self._upload_to_mistral(ctx, index, record["name"], data)
            except Exception as exc:
                reason = f"uploading to the Mistral library failed: {describe_error(exc)}"
            else:
                index.update_document(record["name"], mistral_document_id=document_id)
                text += " Uploaded to the Mistral library too."
                served_by, reason = "mistral+local", "Mistral document_library connector"
        return ToolOutput(text=text, served_by=served_by, reason=reason or "", data=record)

    def _upload_to_mistral(
        self, ctx: ConnectorContext, index: DocumentIndex, name: str, data: bytes
    ) -> str:
        libraries = dict(index.meta.get("mistral_libraries", {}))
        server = ctx.server_url or "default"
        if server not in libraries:
            library = ctx.call_mistral(
                "create the document library",
                lambda sdk, timeout_ms: sdk.beta.libraries.create(
                    name=LIBRARY_NAME,
                    description="Documents uploaded to mistral-executor",
                    timeout_ms=timeout_ms,
                ),
                retry=False,  # a retried creation could leave two libraries
            )
            libraries[server] = library.id
            index.set_meta(mistral_libraries=libraries)
        document = ctx.call_mistral(
            f"upload {name} to the document library",
            lambda sdk, timeout_ms: sdk.beta.libraries.documents.upload(
                library_id=libraries[server],
                file={"file_name": name, "content": data},
                timeout_ms=timeout_ms,
            ),
            retry=False,  # a retried upload could store the document twice
        )
        return document.id

    def tools(self, ctx: ConnectorContext) -> list[Tool]:
        def search_documents(query: str, top_k: int = 5) -> ToolOutput:
            """Search the user's uploaded documents; every passage is cited by file and chunk.

            Args:
                query: what to look for in the documents.
                top_k: how many passages to return (1-10).
            """
            return self.serve(ctx, query=query, top_k=max(1, min(top_k, 10)))

        return [Tool.from_function(search_documents, timeout_s=max(ctx.timeout_s, 30.0))]

    def primary(self, ctx: ConnectorContext, *, query: str, top_k: int = 5) -> ToolOutput:
        library_id = (
            self.index(ctx).meta.get("mistral_libraries", {}).get(ctx.server_url or "default")
        )
        if not library_id:
            raise LookupError("no document has been uploaded to a Mistral library yet")
        tool = {"type": "document_library", "library_ids": [library_id]}
        reply = run_connector(ctx, tool, query, INSTRUCTIONS)
        citations = [
            {
                "file": item["title"],
                "chunk": None,
                "url": item["url"],
                "snippet": item["snippet"],
                "source": "mistral library",
            }
            for item in reply.citations[:top_k]
        ]
        sources = [f"[{n}] {item['file']}" for n, item in enumerate(citations, 1)]
        text = "\n".join([reply.text, *(["", "Sources:", *sources] if sources else [])]).strip()
        return ToolOutput(
            text=text,
            citations=citations,
            data={"engine": "mistral library", "library_id": library_id},
        )

    def fallback(self, ctx: ConnectorContext, *, query: str, top_k: int = 5) -> ToolOutput:
        index = self.index(ctx)
        if not index.documents:
            return ToolOutput(
                text="No documents have been uploaded, so there is nothing to search.",
                ok=False,
                data={"engine": "local index"},
            )
        hits = index.search(query, top_k, embed=_embedder(ctx))
        if not hits:
            return ToolOutput(
                text=f"No passage in the uploaded documents matches {query!r}.",
                data={"engine": "local index"},
            )
        return ToolOutput(
            text=format_hits(query, hits),
            citations=[_citation(h) for h in hits],
            data={"engine": f"local index ({hits[0].method})"},
        )


def _embedder(ctx: ConnectorContext) -> Embedder | None:
    """Embeddings only when there is a way to compute them; BM25 otherwise."""
    if ctx.embed is not None or ctx.api_key:
        return ctx.embeddings
    return None


def _citation(hit: Hit) -> dict[str, Any]:
    return {
        "file": hit.file,
        "chunk": hit.chunk,
        "page": hit.page,
        "score": round(hit.score, 4),
        "snippet": hit.text[:200],
        "source": f"local {hit.method}",
    }


def format_hits(query: str, hits: list[Hit]) -> str:
    lines = [f"Passages from the uploaded documents for {query!r} (cite as [file, chunk]):"]
    for number, hit in enumerate(hits, 1):
        text = hit.text if len(hit.text) <= SNIPPET_CHARS else hit.text[:SNIPPET_CHARS] + " ..."
        lines.append(f"[{number}] {hit.label()}:\n{text}")
    return "\n".join(lines)


_LIBRARY = DocumentLibrary()


def upload_document(
    ctx: ConnectorContext, name: str | Path, data: bytes | None = None
) -> ToolOutput:
    """Add a document for ``search_documents`` (``data`` defaults to reading the path)."""
    if data is None:
        data = Path(name).read_bytes()
    return _LIBRARY.upload(ctx, Path(name).name, data)


@hookimpl
def register_connectors(register: Any) -> None:
    register(_LIBRARY)
