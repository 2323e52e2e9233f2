"""``x-d1-bookmark``: each request gets a D1 session that continues the client's.

As in Cloudflare's pattern for D1 read replication, the request's ``x-d1-bookmark``
header (absent: ``first-unconstrained``) starts ``req.context.db_session``
(``env.DB.with_session``), and the response carries the session's latest bookmark in the
same header, so a client that sends it back reads at least what it has seen or written.
Code that reads through the session may be served by a read replica
(``read_replica_urls``); the Peewee models always use the primary. A request that may
have written (any method but GET, HEAD and OPTIONS) ends with the primary's position, so
the client's next request, through any replica, sees its writes.
"""

import logging

import falcon

from app.api.errors import APIError
from app.runtime.d1 import D1Error, D1SessionError

log = logging.getLogger("sonicpy.d1")

HEADER = "x-d1-bookmark"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class D1SessionMiddleware:
    """Opens ``req.context.db_session`` from ``x-d1-bookmark`` and answers with its bookmark."""

    def process_request(self, req, resp):
        database = req.context.env.get("DB")
        if database is None:
            return
        try:
            req.context.db_session = database.with_session(req.get_header(HEADER) or "first-unconstrained")
        except D1SessionError:
            raise APIError(falcon.HTTP_400, "Invalid bookmark",
                           [{"field": HEADER, "message": "not a bookmark from an x-d1-bookmark response"}]) from None

    def process_response(self, req, resp, resource, req_succeeded):
        session = getattr(req.context, "db_session", None)
        if session is None:
            return
        try:
            if req_succeeded and req.method not in READ_METHODS:
                session.mark_written()
            bookmark = session.get_bookmark()
        except D1Error as ex:  # the primary went away after answering: no bookmark this time
            log.warning("no %s for %s %s: %s", HEADER, req.method, req.path, ex)
            bookmark = None
        finally:
            session.release()
        if bookmark:
            resp.set_header(HEADER, bookmark)
