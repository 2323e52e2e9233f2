"""Pages outside the admin in its sign-in layout (a mailed sign-in link's page), and the one
Jinja environment an app renders every page with.

The composition root builds one ``PublicPages`` per app (``Services.pages``): the admin's
``Renderer`` renders through it, and a route outside the admin gets it handed in, so it needs
no admin object of its own (no CSRF tokens, no second Jinja environment).
"""

import functools

import falcon

from app.admin.csrf import FIELD
from app.admin.forms import is_plain_date
from app.admin.pages import HTML, TEMPLATES, format_time
from app.services.display_names import person_name

# What a public page needs and no more: such a page may hold a secret (a sign-in link's
# token, in its form), and loads no script (its template leaves base.html's ``scripts`` block
# empty) that could read it. Its stylesheets come from this site; their icons, and the page's
# empty icon, are data: images. Its form posts to this site only.
PUBLIC_PAGE_POLICY = "; ".join([
    "default-src 'none'",
    "style-src 'self'",
    "img-src data:",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
])
PUBLIC_PAGE_HEADERS = {
    "Content-Security-Policy": PUBLIC_PAGE_POLICY,
    # A public page's URL may carry a secret (a sign-in link's token): no Referer may take it elsewhere.
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


@functools.cache
def _compiled_templates():
    """The templates compiled in this process, kept for every app's environment: an app made
    again in the same process (each test makes its own) reads each template's code from here
    instead of parsing and compiling it again. Jinja keys each by its name and checks its
    source, so a changed template is compiled afresh; every environment here is made with the
    same options, which the code depends on."""
    import jinja2

    class CompiledTemplates(jinja2.BytecodeCache):
        def __init__(self):
            self._code = {}

        def load_bytecode(self, bucket):
            code = self._code.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)

        def dump_bytecode(self, bucket):
            self._code[bucket.key] = bucket.bytecode_to_string()

    return CompiledTemplates()


class PublicPages:
    """Renders the app's templates: pages outside the admin (``page``), and the admin's own
    through its ``Renderer`` (``render``).

    Args:
        load_assets: makes the ``Assets`` of the admin's static files (stylesheets, scripts),
            called on first use.
    """

    def __init__(self, load_assets):
        self._load_assets = load_assets

    @functools.cached_property
    def assets(self):
        """The admin's static files, read (and hashed) on first use: the scheduled jobs and the
        CLI build the services too, and never render a page nor serve a file."""
        return self._load_assets()

    @functools.cached_property
    def env(self):
        """The Jinja environment, made (and Jinja imported) by the first page a worker renders:
        a worker that only serves the API never holds it (about 2 MB)."""
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            bytecode_cache=_compiled_templates(),
        )
        env.globals["asset"] = self.assets.url
        env.filters["datetime"] = format_time
        env.filters["person_name"] = person_name
        env.tests["plain_date"] = is_plain_date
        return env

    def page(self, req, resp, template, status=falcon.HTTP_200, **values):
        """Render ``template``, a page outside the admin, in the sign-in pages' layout, with its
        security headers: the admin's stylesheet, no nav whoever is signed in, and no CSRF token
        (the page's own form is checked otherwise, and no admin cookie is set for it). The
        template leaves the ``scripts`` block empty: the page's policy allows no script."""
        self.render(req, resp, template, status, user=None, csrf_token="", plugin_nav=[], **values)
        resp.set_headers(PUBLIC_PAGE_HEADERS)

    def render(self, req, resp, template, status, **values):
        """Render ``template`` with ``values`` into ``resp`` as an HTML page with ``status``."""
        resp.status = status
        resp.content_type = HTML
        resp.set_header("Cache-Control", "no-store")
        resp.text = self.env.get_template(template).render(csrf_field=FIELD, path=req.path, **values)
