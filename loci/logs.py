"""Logging set-up: JSON lines by default (python-json-logger), plain text on request.

Modules log an event name and the ids involved as `extra` fields, e.g.
`log.info("memory stored", extra={"event": "memory.stored", "memory_id": ...})`, so a log
line says what happened to which memory and can be filtered by field.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from loci.config import LogFormat, Settings

_HANDLER_NAME = "loci"


def configure_logging(settings: Settings) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    root = logging.getLogger()
    root.setLevel(settings.log_level)
    if any(handler.get_name() == _HANDLER_NAME for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    if settings.log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s", rename_fields={"levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    # apscheduler's executor logs every run of every job (the lease's renewal every few seconds): Loci logs its own
    for noisy in ("httpx", "urllib3", "sentence_transformers", "transformers", "filelock", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
