"""Read what the configured console handler (settings.LOGGING) really writes."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager


def console_handler() -> logging.StreamHandler:  # type: ignore[type-arg]
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            return handler
    raise AssertionError("settings.LOGGING configures no console handler on the root logger")


@contextmanager
def console_output() -> Iterator[io.StringIO]:
    """The text the console handler (its filter and formatter) writes while the block runs."""
    handler = console_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield stream
    finally:
        handler.setStream(previous)  # type: ignore[arg-type]
