"""Logging for every command, set up once by the app's root callback.

The hub, the agent and the libraries below them only *emit* records (``logging.getLogger``);
this module alone decides where records go and how they look, so ``fleetsync agent run`` logs
exactly like ``fleetsync hub run``: to stderr, ``--log-format text`` (``time level logger:
message key=value ...``, every ``extra`` field sorted) or ``json`` (one object per line with
``time``, ``level``, ``logger``, ``message`` and the extra fields, for a log collector).
A filter on the one handler masks credentials in URLs (``https://user:token@host`` becomes
``https://***@host``) in the message, the extra fields and the traceback, because a git error
quotes the command line it ran and a remote URL may carry a token; Secret values never reach a
log record in the first place (reports, diffs and plans mask them where they are made).
The setup returns its own undo, which the CLI registers on the command's context: a command run
in-process (tests, the demo) leaves the process's logging as it found it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TextIO

from fleetsync_contract.gitauth import mask_url_credentials

# the one rule for URL credentials, shared with the hub's and the agent's git doors
mask_credentials = mask_url_credentials
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_credentials(value)
    if isinstance(value, list | tuple):
        return [_mask(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    return value


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class MaskCredentials(logging.Filter):
    """Rewrites a record in place so that no formatter can print a URL's credentials."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the formatter reports it (Handler.handleError)
            message = None
        if message is not None:
            record.msg = mask_credentials(message)
            record.args = None
        for key, value in _extras(record).items():
            masked = _mask(value)
            if masked != value:
                setattr(record, key, masked)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_credentials(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_credentials(record.stack_info)
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value ...`` — every ``extra`` field, sorted."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname} {record.name}: {record.getMessage()}"
        tail = " ".join(f"{k}={v!r}" for k, v in sorted(_extras(record).items()))
        text = f"{base} {tail}" if tail else base
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the standard keys win over an extra field of the same name."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in sorted(_extras(record).items()):
            doc.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(doc, default=str)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at emit time (a test runner may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def setup_logging(level: LogLevel, fmt: LogFormat) -> Callable[[], None]:
    """Send every record at ``level`` or above to stderr; returns the undo."""
    numeric = logging.getLevelName(level.value.upper())
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.json else TextFormatter())
    handler.addFilter(MaskCredentials())
    root = logging.getLogger()
    # apscheduler: one line per job run; urllib3: one line per connection retry, which the agent
    # reports itself once per failure (agent/runner.py)
    quiet = {"apscheduler": logging.WARNING, "urllib3": logging.ERROR}
    before = (root.level, {name: logging.getLogger(name).level for name in quiet})
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, least in quiet.items():
        logging.getLogger(name).setLevel(max(numeric, least))

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(before[0])
        for name, level in before[1].items():
            logging.getLogger(name).setLevel(level)

    return undo
