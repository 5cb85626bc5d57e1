"""Resilience on every outbound hop: deadlines, timeouts, retries, breakers, bulkheads, composed
by one :class:`CallPipeline`."""

from meshline.resilience.client import ServiceClient, raise_for_problem
from meshline.resilience.pipeline import CallPipeline, CallPolicy
from meshline.resilience.retry import RetryPolicy

__all__ = ["CallPipeline", "CallPolicy", "RetryPolicy", "ServiceClient", "raise_for_problem"]
