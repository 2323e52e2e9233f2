"""The baseline the benchmarks compare against: a bare Falcon app answering JSON.

Served by the same gunicorn settings as sonicpy, so a ratio says what sonicpy's own
work (routing rules, auth, database, cache, serialisation) costs on top of the stack.
"""

import falcon


class Hello:
    def on_get(self, req, resp):
        resp.media = {"data": [], "meta": {"count": 0}}


app = falcon.App()
app.add_route("/hello", Hello())
