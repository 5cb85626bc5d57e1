"""Resilience on every outbound hop: deadlines, timeouts, retries (more patterns join here)."""

from meshline.resilience.client import ServiceClient, raise_for_problem
from meshline.resilience.retry import RetryPolicy

__all__ = ["RetryPolicy", "ServiceClient", "raise_for_problem"]
