"""Request paths in logs without their query strings, for every onshi server.

uvicorn's access log writes each request's target as it was sent, query included (`"GET
/v1/members/1?access_token=ins_… HTTP/1.1" 401`): a client that puts a credential in the
URL, by mistake or as a probe, would leave it in the log. No onshi route takes a secret in
its query, and a query's names can be secrets as well as its values (`?ins_….secret`), so
the whole query is cut and replaced by a mark that one was sent.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"
QUERY_MARK = "?[query redacted]"


def without_query(target: str) -> str:
    """`target` with its query string, if it has one, replaced by `QUERY_MARK`."""
    path, separator, _query = target.partition("?")
    return path + QUERY_MARK if separator else target


class QueryRedaction(logging.Filter):
    """Cuts the query from every argument of a record that is a request target (a string
    starting with `/`: uvicorn quotes a path's own `?` as `%3F`, so the first `?` starts
    the query). The record is kept; only its arguments change."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                without_query(arg) if isinstance(arg, str) and arg.startswith("/") else arg
                for arg in record.args
            )
        return True


def redact_access_log_queries(logger_name: str = ACCESS_LOGGER) -> None:
    """Put a `QueryRedaction` on the access logger, once. A logger's filters outlive the
    logging set-up uvicorn applies when it starts (`dictConfig` replaces handlers, keeps
    filters), so this may run before the server does."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(existing, QueryRedaction) for existing in logger.filters):
        logger.addFilter(QueryRedaction())
