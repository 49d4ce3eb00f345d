"""How the process logs: text or one JSON object per line (``LOG_FORMAT``), with the Discord ids a line is about.

Who a line is about (``shard``, ``guild``, ``user``) comes from one place: :func:`about`, a context manager that
sets them in a context variable for the work it wraps. The entry points of work call it (an interaction, a
reaction, a shard's gateway event, one outbox row); asyncio copies context variables into the tasks started
inside, so every line logged on behalf of that event carries them, whichever module logs it. A record's own
``extra={"guild": ...}`` wins over the context.

Both formats end in the same redaction as the token filter of the linking service (:func:`redact_tokens`): the
whole text line, or, in JSON, every string value (message, traceback and extra fields alike).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, Literal

LogFormat = Literal["text", "json"]

#: the ids a JSON line may carry, in this order
ID_FIELDS: Final = ("shard", "guild", "user")
TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_ABOUT: ContextVar[Mapping[str, int]] = ContextVar("log_about", default={})  # noqa: B039 (never mutated)

# A music user token is a long opaque run of base64 characters; this finds one anywhere in a text
# ("here is my token: Ag..."), as the linking service recognises a pasted one.
_TOKEN_RUN_RE = re.compile(r"(?<![A-Za-z0-9+/=_.\-])[A-Za-z0-9+/=_.\-]{100,}")

#: attributes every LogRecord has (anything else on a record came from ``extra=``)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact_tokens(text: str) -> str:
    """``text`` with every token-like run replaced by ``[redacted]``."""
    return _TOKEN_RUN_RE.sub("[redacted]", text)


class TokenRedactingFilter(logging.Filter):
    """A logging filter that removes token-like runs from a record's message.

    discord.py logs whole gateway events at DEBUG (``discord.gateway``), and a DM holding a pasted music
    user token is one of them; this filter, attached to such a logger, keeps the token out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        if _TOKEN_RUN_RE.search(message) is not None:
            record.msg = redact_tokens(message)
            record.args = None
        return True


#: the loggers that may see a user's raw message (gateway events, HTTP bodies)
REDACTED_LOGGERS = ("discord.gateway", "discord.http", "discord.client", "discord.state")
_FILTER = TokenRedactingFilter()


def install_token_redaction(names: tuple[str, ...] = REDACTED_LOGGERS) -> None:
    """Attach the redacting filter to ``names`` (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _given(shard: int | None, guild: int | None, user: int | None, shard_count: int | None) -> dict[str, int]:
    if shard is None and guild is not None and shard_count:
        shard = (guild >> 22) % shard_count  # Discord's rule for which shard a guild is on
    return {name: value for name, value in (("shard", shard), ("guild", guild), ("user", user)) if value is not None}


@contextmanager
def about(
    *, shard: int | None = None, guild: int | None = None, user: int | None = None, shard_count: int | None = None
) -> Iterator[None]:
    """Log the lines of the wrapped work (and of the tasks it starts) as about these Discord ids; ids not given
    keep their outer value. With ``shard_count``, the shard is the one Discord puts ``guild`` on."""
    token = _ABOUT.set({**_ABOUT.get(), **_given(shard, guild, user, shard_count)})
    try:
        yield
    finally:
        _ABOUT.reset(token)


def about_this_task(
    *, shard: int | None = None, guild: int | None = None, user: int | None = None, shard_count: int | None = None
) -> None:
    """:func:`about` for the rest of the current task, where no ``with`` block can wrap the work (a check that
    runs first in the task of an interaction): asyncio gives each task its own copy of the context."""
    _ABOUT.set({**_ABOUT.get(), **_given(shard, guild, user, shard_count)})


def ids_of(record: logging.LogRecord) -> dict[str, int]:
    """The Discord ids a record is about: the context's, overridden by the record's own ``extra``."""
    ids = dict(_ABOUT.get())
    for name in ID_FIELDS:
        value = getattr(record, name, None)
        if isinstance(value, int):
            ids[name] = value
    return {name: ids[name] for name in ID_FIELDS if name in ids}


class RedactingTextFormatter(logging.Formatter):
    """The text format, with token-like runs removed from the whole line (message and traceback)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return redact_tokens(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, then ``shard``,
    ``guild``, ``user`` when known, ``exc`` (the formatted traceback) when there is one, and any other
    ``extra=`` fields; every string redacted."""

    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **ids_of(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line and name not in ID_FIELDS:
                line[name] = value
        return json.dumps(_redacted(line), ensure_ascii=False, default=str)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_tokens(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_tokens(str(value))


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """One handler on the root logger (standard error) in ``log_format``; the chatty loggers kept at INFO."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else RedactingTextFormatter())
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler])
    # At DEBUG, discord.py logs request bodies and whole gateway events (a DM may hold a pasted token) and
    # aiosqlite logs SQL parameters (encrypted tokens): those loggers never go below INFO.
    floor = max(logging.INFO, getattr(logging, level, logging.INFO))
    for name in ("discord.http", "discord.gateway", "discord.client", "discord.state", "aiosqlite"):
        logging.getLogger(name).setLevel(floor)
