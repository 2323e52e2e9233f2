"""The request's database: each request is served by the database of the app it reached."""

from app.db.database import release_connection
from app.db.models import database


class DatabaseMiddleware:
    """Points the models at this app's database for each request; releases the connection after.

    The models reach their database through a context-local proxy: the binding made here
    holds for this request only, so apps of several envs served by one process, from
    several threads, never answer from each other's database. The Worker serves each
    request in a context of its own, together with the work queued by ``ctx.wait_until``,
    so that work sees the same database and the binding ends with it. (Called without the
    Worker, the app leaves the binding in the caller's context, where the inline
    ``wait_until`` work runs after this middleware; ``bind_models`` replaces it.)

    The database connects on first use (Peewee's autoconnect), not up front: a request
    that needs no database, like ``/health`` reporting the database down, still answers.
    SQLite keeps its per-thread connection open between requests (opening one with pragmas
    costs more than a query); PostgreSQL returns its connection to the pool at the end.
    """

    def __init__(self, db):
        self._db = db

    def process_request(self, req, resp):
        database.bind_context(self._db)

    def process_response(self, req, resp, resource, req_succeeded):
        release_connection(self._db)
