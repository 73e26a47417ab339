"""Structured JSON logs; a submission id bound to the context appears on every line of its work."""

import logging
import sys

import structlog


def configure(service: str, level: str = "INFO") -> logging.Logger:
    logging.basicConfig(stream=sys.stdout, format="%(message)s", level=level.upper(), force=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    return logging.getLogger(f"gongkai.{service}")
