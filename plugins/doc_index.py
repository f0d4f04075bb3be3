"""A local document index: TXT, MD and PDF files chunked, embedded and searched.

This is the offline twin of Mistral's document libraries. Every chunk keeps its file name, chunk
number and (for PDFs) page, because an answer drawn from documents is only useful if it says where
it came from. Search uses embeddings (``mistral-embed``) when every chunk has a vector and the query
can be embedded, and BM25 over word tokens otherwise, so it works with no key and no network.
The index lives in one JSON file plus a ``.npy`` matrix under ``MISTRAL_EXECUTOR_HOME``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported where it is used: the CLI starts without it
    import numpy as np


SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".pdf")
CHUNK_WORDS = 180
OVERLAP_WORDS = 30
_TOKEN = re.compile(r"\w+", re.UNICODE)

Embedder = Callable[[list[str]], list[list[float]]]


@dataclass
class Chunk:
    file: str
    chunk: int  # 1-based within its file
    text: str
    page: int | None = None


@dataclass
class Hit:
    file: str
    chunk: int
    page: int | None
    score: float
    text: str
    method: str  # "embeddings" or "bm25"

    def label(self) -> str:
        page = f", page {self.page}" if self.page else ""
        return f"{self.file}, chunk {self.chunk}{page}"


def extract_text(name: str, data: bytes) -> list[tuple[int | None, str]]:
    """``(page, text)`` pieces of a document; pages only for PDFs."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ValueError(f"unsupported document type {suffix or name!r}: use TXT, MD or PDF")
    if suffix == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        return [(number, page.extract_text() or "") for number, page in enumerate(reader.pages, 1)]
    return [(None, data.decode("utf-8", errors="replace"))]


def chunk_text(name: str, pieces: list[tuple[int | None, str]]) -> list[Chunk]:
    """Overlapping word windows, so a sentence cut at one edge is whole in the next chunk."""
    chunks: list[Chunk] = []
    step = CHUNK_WORDS - OVERLAP_WORDS
    for page, text in pieces:
        words = text.split()
        for start in range(0, max(len(words), 1), step):
            window = words[start : start + CHUNK_WORDS]
            if window:
                chunks.append(Chunk(name, len(chunks) + 1, " ".join(window), page))
            if start + CHUNK_WORDS >= len(words):
                break
    return chunks


def tokenize(text: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(text)]


def bm25_scores(
    query: str, documents: list[list[str]], k1: float = 1.5, b: float = 0.75
) -> np.ndarray:
    """Okapi BM25 of ``query`` against tokenized ``documents``."""
    import numpy as np

    scores = np.zeros(len(documents))
    if not documents:
        return scores
    lengths = np.array([len(doc) for doc in documents], dtype=float)
    average = max(lengths.mean(), 1.0)
    counts = [Counter(doc) for doc in documents]
    for term in set(tokenize(query)):
        frequencies = np.array([count.get(term, 0) for count in counts], dtype=float)
        containing = int((frequencies > 0).sum())
        if not containing:
            continue
        idf = math.log(1 + (len(documents) - containing + 0.5) / (containing + 0.5))
        scores += (
            idf * frequencies * (k1 + 1) / (frequencies + k1 * (1 - b + b * lengths / average))
        )
    return scores


class DocumentIndex:
    """The persisted index in ``directory``. Safe to share between threads."""

    def __init__(self, directory: Path) -> None:

        self.directory = Path(directory)
        self._lock = threading.Lock()
        self.documents: dict[str, dict[str, Any]] = {}
        self.chunks: list[Chunk] = []
        self.vectors: np.ndarray | None = None
        self.meta: dict[str, Any] = {}
        self._load()

    @property
    def _index_path(self) -> Path:
        return self.directory / "index.json"

    @property
    def _vectors_path(self) -> Path:
        return self.directory / "vectors.npy"

    def _load(self) -> None:
        import numpy as np

        if not self._index_path.is_file():
            return
        state = json.loads(self._index_path.read_text(encoding="utf-8"))
        self.documents = state.get("documents", {})
        self.chunks = [Chunk(**item) for item in state.get("chunks", [])]
        self.meta = state.get("meta", {})
        if self._vectors_path.is_file():
            vectors = np.load(self._vectors_path)
            self.vectors = vectors if len(vectors) == len(self.chunks) else None

    def _save(self) -> None:
        import numpy as np

        self.directory.mkdir(parents=True, exist_ok=True)
        state = {
            "version": 1,
            "documents": self.documents,
            "meta": self.meta,
            "chunks": [asdict(chunk) for chunk in self.chunks],
        }
        temporary = self._index_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, self._index_path)
        if self.vectors is not None:
            with open(self._vectors_path.with_suffix(".tmp"), "wb") as handle:
                np.save(handle, self.vectors)
            os.replace(self._vectors_path.with_suffix(".tmp"), self._vectors_path)
        elif self._vectors_path.exists():
            self._vectors_path.unlink()

    def add(self, name: str, data: bytes, embed: Embedder | None = None) -> dict[str, Any]:
        """Index a file (replacing one of the same name). Returns its record.

        Embedding failures are not errors: the document is still searchable with BM25.
        """
        import numpy as np

        name = Path(name).name
        new_chunks = chunk_text(name, extract_text(name, data))
        if not new_chunks:
            raise ValueError(f"{name!r} contains no text to index")
        new_vectors: np.ndarray | None = None
        embed_error = ""
        if embed is not None:
            try:
                new_vectors = _normalized(embed([chunk.text for chunk in new_chunks]))
            except Exception as exc:
                embed_error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            keep = [i for i, chunk in enumerate(self.chunks) if chunk.file != name]
            old_vectors = self.vectors[keep] if self.vectors is not None else None
            self.chunks = [self.chunks[i] for i in keep] + new_chunks
            if new_vectors is None or (keep and old_vectors is None):
                self.vectors = None  # a partial matrix would silently skip documents
            elif old_vectors is None or not keep:
                self.vectors = new_vectors
            elif old_vectors.shape[1] == new_vectors.shape[1]:
                self.vectors = np.vstack([old_vectors, new_vectors])
            else:
                self.vectors = None
            record = {
                "name": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
                "chunks": len(new_chunks),
                "embedded": new_vectors is not None,
            }
            if embed_error:
                record["embed_error"] = embed_error[:300]
            self.documents[name] = {**self.documents.get(name, {}), **record}
            self._save()
            return dict(self.documents[name])

    def set_meta(self, **values: Any) -> None:
        with self._lock:
            self.meta.update(values)
            self._save()

    def update_document(self, name: str, **values: Any) -> None:
        with self._lock:
            if name in self.documents:
                self.documents[name].update(values)
                self._save()

    def search(self, query: str, top_k: int = 5, embed: Embedder | None = None) -> list[Hit]:
        """Best chunks for ``query``: by embeddings when possible, else BM25."""
        import numpy as np

        with self._lock:
            chunks, vectors = list(self.chunks), self.vectors
        if not chunks:
            return []
        scores, method = None, "bm25"
        if vectors is not None and embed is not None:
            try:
                query_vector = _normalized(embed([query]))[0]
                scores, method = vectors @ query_vector, "embeddings"
            except Exception:
                scores = None
        if scores is None:
            scores = bm25_scores(query, [tokenize(chunk.text) for chunk in chunks])
        order = np.argsort(-scores, kind="stable")[:top_k]
        return [
            Hit(
                chunks[i].file,
                chunks[i].chunk,
                chunks[i].page,
                float(scores[i]),
                chunks[i].text,
                method,
            )
            for i in order
            if method == "embeddings" or scores[i] > 0  # BM25 0: not a single shared word
        ]


def _normalized(vectors: list[list[float]]) -> np.ndarray:
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError("embeddings must be a list of vectors")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)
