"""Memory service settings (``MESHLINE_MEMORY_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from meshline.embeddings import LOCAL_EMBEDDING_MODEL, EmbeddingSettings, EmbedPrecision
from meshline.service import ServiceSettings


class MemorySettings(ServiceSettings):
    """Where vectors live, which model embeds them, and how the write stream is consumed."""

    model_config = SettingsConfigDict(env_prefix="MESHLINE_MEMORY_", extra="ignore")

    name: str = "memory"
    port: int = 8200

    chroma_path: Path | None = Field(default=None, description="Embedded Chroma directory (default <home>/chroma).")
    chroma_url: str | None = Field(default=None, description="Chroma server URL; when set, HttpClient is used.")
    chroma_timeout_s: float = Field(default=10.0, gt=0, description="Upper bound on one Chroma call.")

    embedding_model: str = Field(
        default=LOCAL_EMBEDDING_MODEL,
        description="'local' = bundled all-MiniLM-L6-v2 on CPU; anything else = a litellm embedding model.",
    )
    embedding_api_base: str | None = None
    embedding_api_key: SecretStr | None = None
    embedding_timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one litellm embedding call.")
    embed_batch_size: int = Field(default=32, ge=1, le=2048)
    embed_precision: EmbedPrecision = Field(
        default="auto",
        description="Local model: 'auto' = bfloat16 autocast where the CPU has native bf16, else float32.",
    )
    embed_bulk_threads: int = Field(
        default=0,
        ge=0,
        le=256,
        description="Torch threads for ingestion batches (0 = every core this process may use; set it to a CPU quota); "
        "queries use one.",
    )

    stream_key: str = "meshline:memory:writes"
    dead_letter_key: str = "meshline:memory:writes:dead"
    consumer_group: str = "memory-writers"
    worker_enabled: bool = Field(default=True, description="Run the stream consumer in this process.")
    worker_block_ms: int = Field(default=2000, ge=10, description="XREADGROUP BLOCK per poll.")
    claim_idle_ms: int = Field(default=30_000, ge=0, description="Pending entries idle this long are reclaimed.")
    claim_interval_s: float = Field(default=10.0, gt=0, description="How often pending entries are reclaimed.")
    max_deliveries: int = Field(default=5, ge=1, description="Deliveries before an entry is dead-lettered.")

    ingest_stream_key: str = "meshline:memory:ingest"
    ingest_dead_letter_key: str = "meshline:memory:ingest:dead"
    ingest_group: str = "memory-ingesters"
    ingest_batch_documents: int = Field(default=32, ge=1, le=1000, description="Documents per worker batch.")
    ingest_dead_letter_max: int = Field(
        default=10_000, ge=1, description="Ingestion dead letters kept at most (oldest trimmed, approximately)."
    )
    ingest_dead_letter_ttl_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="Ingestion dead letters older than this are trimmed."
    )

    # Quotas at enqueue: counted atomically in Redis, released when a document is done or failed.
    ingest_tenant_max_queued_documents: int = Field(
        default=20_000, ge=1, description="Documents one tenant may have queued and not yet processed (429 beyond)."
    )
    ingest_tenant_max_queued_bytes: int = Field(
        default=64_000_000, ge=1, description="Bytes of content one tenant may have queued (429 beyond)."
    )
    ingest_stream_max_documents: int = Field(
        default=100_000, ge=1, description="Documents the ingestion stream holds at most, all tenants (503 beyond)."
    )
    ingest_stream_max_bytes: int = Field(
        default=256_000_000, ge=1, description="Bytes of content the ingestion stream holds at most (503 beyond)."
    )
    ingest_retry_after_s: int = Field(
        default=30, ge=1, description="Retry-After sent with a refused ingestion (quota or full stream)."
    )

    # The parse sandbox (meshline.memory.knowledge_bases.parse_pool): documents are decoded in these processes.
    parse_workers: int = Field(
        default=1, ge=1, le=64, description="Parser processes (one document each at a time; 1 suits 2 cores)."
    )
    parse_cpu_s: int = Field(default=20, ge=1, description="CPU seconds one document may take to decode.")
    parse_memory_mb: int = Field(
        default=512, ge=64, description="Address-space cap of a parser process (RLIMIT_AS), in MiB."
    )
    parse_wall_s: float = Field(
        default=30.0, gt=0, description="Wall-clock seconds one document may take; the parser is then replaced."
    )
    parse_max_chars: int = Field(
        default=5_000_000, ge=1000, description="Characters of text one document may decode to."
    )
    pdf_max_pages: int = Field(default=500, ge=1, description="Pages a PDF may have.")
    pdf_max_stream_bytes: int = Field(
        default=20_000_000,
        ge=100_000,
        description="Bytes one PDF stream may decompress to (pypdf's per-filter output caps).",
    )
    job_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, description="How long job records are kept.")
    chunk_chars: int = Field(default=1000, ge=100, description="Target chunk size in characters.")
    chunk_overlap: int = Field(default=150, ge=0, description="Characters repeated between adjacent chunks.")
    search_candidates: int = Field(default=100, ge=10, le=1000, description="Per-retriever depth fused by RRF.")
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal rank fusion constant.")

    def embedding(self) -> EmbeddingSettings:
        """The encoder these settings configure (``MESHLINE_MEMORY_EMBEDDING_*`` and ``MESHLINE_MEMORY_EMBED_*``)."""
        return EmbeddingSettings(
            model=self.embedding_model,
            api_base=self.embedding_api_base,
            api_key=self.embedding_api_key,
            timeout_s=self.embedding_timeout_s,
            batch_size=self.embed_batch_size,
            precision=self.embed_precision,
            bulk_threads=self.embed_bulk_threads,
        )

    def resolved_chroma_path(self) -> Path:
        return self.chroma_path if self.chroma_path is not None else self.mesh.home / "chroma"
