"""Service logging: every line names its service, and the trace and tenant of the request it served.

:class:`RequestContextFilter` copies the bound :class:`~meshline.service.context.RequestContext`
onto each record (``trace_id``, ``tenant``, ``service``), so the trace id a problem+json answer
carries finds the lines the failure left. :func:`configure_logging` installs it on one root
handler, in the text format or, with ``MESHLINE_LOG_FORMAT=json``, one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

from meshline.service.context import bound_context

LogFormat = Literal["text", "json"]
NO_VALUE = "-"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(service)s trace=%(trace_id)s tenant=%(tenant)s]: %(message)s"
# The attributes every LogRecord has; anything else on a record came from `extra=` and is kept.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_CONTEXT_FIELDS = ("service", "trace_id", "tenant")


class RequestContextFilter(logging.Filter):
    """Adds ``service``, ``trace_id`` and ``tenant`` to every record (``-`` outside a request).

    It only reads the bound context, never binds one: logging must not leave a context behind.
    """

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = bound_context()
        record.service = self.service
        record.trace_id = ctx.trace_id if ctx is not None else NO_VALUE
        record.tenant = (ctx.tenant if ctx is not None else None) or NO_VALUE
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            line[name] = getattr(record, name, NO_VALUE)
        for name, value in vars(record).items():
            if name not in _RECORD_FIELDS and name not in line:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)


def log_handler(service: str, log_format: LogFormat = "text", stream: TextIO | None = None) -> logging.Handler:
    """A stream handler carrying the context filter, in ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestContextFilter(service))
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(service: str, log_format: LogFormat = "text", level: int = logging.INFO) -> logging.Handler:
    """Make the root logger write through one :func:`log_handler` (a service process's logging).

    The filter sits on the handler, not on a logger: a logger's filters see only the records
    logged to it, a handler's see every record that propagates to it.
    """
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = log_handler(service, log_format)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
