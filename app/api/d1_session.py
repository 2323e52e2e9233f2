"""``x-d1-bookmark``: each request gets a D1 session that continues the client's.

As in Cloudflare's pattern for D1 read replication, the request's ``x-d1-bookmark``
header (absent: ``first-unconstrained``) starts ``req.context.db_session``
(``env.DB.with_session``), and the response carries the session's latest bookmark in the
same header, so a client that sends it back reads at least what it has seen or written.
Code that reads through the session may be served by a read replica
(``read_replica_urls``); the Peewee models always use the primary. A request that may
have written (any method but GET, HEAD and OPTIONS) ends with the primary's position, so
the client's next request, through any replica, sees its writes.

Most requests never use their session: without a bookmark header on a database without
replicas, ``req.context.db_session`` is a ``LazySession`` that opens the session on first
use (and at the end of a request that may have written), so such a request pays nothing.
"""

import logging

import falcon

from app.api.errors import APIError
from app.api.methods import SAFE_METHODS
from app.runtime.d1 import D1Error, D1SessionError

log = logging.getLogger("sonicpy.d1")

HEADER = "x-d1-bookmark"
WSGI_HEADER = "HTTP_X_D1_BOOKMARK"
UNCONSTRAINED = "first-unconstrained"


class LazySession:
    """A D1 session ``first-unconstrained`` of ``database``, opened when first used.

    Attribute reads (``prepare``, ``batch``, ``get_bookmark``...) go to the session,
    which is opened then. Only for a database without replicas: there an unused session
    holds nothing to release and has no bookmark.
    """

    __slots__ = ("_database", "opened")

    def __init__(self, database):
        self._database = database
        self.opened = None

    def open(self):
        """The session, opened now if it was not."""
        if self.opened is None:
            self.opened = self._database.with_session(UNCONSTRAINED)
        return self.opened

    def __getattr__(self, name):
        return getattr(self.open(), name)


class D1SessionMiddleware:
    """Opens ``req.context.db_session`` from ``x-d1-bookmark`` and answers with its bookmark."""

    def process_request(self, req, resp):
        database = req.context.env.get("DB")
        if database is None:
            return
        start = req.env.get(WSGI_HEADER)
        if not start and not getattr(database, "replicas", None):
            req.context.db_session = LazySession(database)
            return
        try:
            req.context.db_session = database.with_session(start or UNCONSTRAINED)
        except D1SessionError:
            raise APIError(falcon.HTTP_400, "Invalid bookmark",
                           [{"field": HEADER, "message": "not a bookmark from an x-d1-bookmark response"}]) from None

    def process_response(self, req, resp, resource, req_succeeded):
        session = getattr(req.context, "db_session", None)
        if session is None:
            return
        wrote = req_succeeded and req.method not in SAFE_METHODS
        if isinstance(session, LazySession):
            if session.opened is None and not wrote:
                return  # never used, nothing written: no bookmark, nothing to release
            session = session.open()
        try:
            if wrote:
                session.mark_written()
            bookmark = session.get_bookmark()
        except D1Error as ex:  # the primary went away after answering: no bookmark this time
            log.warning("no %s for %s %s: %s", HEADER, req.method, req.path, ex)
            bookmark = None
        finally:
            session.release()
        if bookmark:
            resp.set_header(HEADER, bookmark)
