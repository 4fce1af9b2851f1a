"""Logging: one line per event to stderr; secrets never printed."""

from __future__ import annotations

import logging
import sys


class Redact(logging.Filter):
    """Replace secrets (the CSMS password, its Basic-auth token) wherever they appear."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "********")
            record.msg, record.args = message, None
        return True


def setup(level: str = "info", secrets: list[str] | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
        )  # fmt: skip
    )
    handler.addFilter(Redact(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # websockets logs handshake headers (Authorization!) at debug level: keep it quieter.
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)  # its per-state chatter
