"""Knowledge bases: a tenant's named collections of documents, cut into chunks and searched.

Ingestion: :mod:`.uploads` (what a caller sends) → :mod:`.ingest_stream` (one entry per document,
within :mod:`.quota`, counted in :mod:`.jobs`) → :mod:`.ingest_worker`, which has each document
decoded and chunked (:mod:`.decoding`, :mod:`.chunking`) in the parse sandbox (:mod:`.parse_pool`,
:mod:`.parse_sandbox`) and writes the chunks to :mod:`.store`. Retrieval: :mod:`.search` over the
store (dense) and :mod:`.lexical` (BM25). HTTP: :mod:`.routes`; metrics: :mod:`.metrics`.

Imports nothing on import: the parse sandbox's worker process imports modules of this package.
"""
