"""``GET /docs``: the explorer page and its vendored assets, served by the app under a strict CSP."""

import re

import pytest


def test_the_page_loads_only_its_own_scripts_under_a_strict_csp(client):
    page = client.get("/docs")
    assert page.content_type == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
    assert scripts and all(body.strip() == "" and 'src="/docs/assets/' in attrs for attrs, body in scripts)
    assert "http://" not in page.text and "https://" not in page.text
    # A browser asks for /favicon.ico unless the page names an icon: that 404 lands in the console.
    assert '<link rel="icon" href="data:,">' in page.text and "data:" in csp.split("img-src", 1)[1].split(";")[0]


@pytest.mark.parametrize("name, content_type", [
    ("swagger-ui-bundle.js", "text/javascript"),
    ("swagger-ui.css", "text/css"),
    ("init.js", "text/javascript"),
])
def test_every_asset_the_page_names_is_served(client, name, content_type):
    page = client.get("/docs")
    assert f"/docs/assets/{name}" in page.text
    asset = client.get(f"/docs/assets/{name}")
    assert asset.content_type == content_type
    assert asset.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]
    assert len(asset.body) > 100


def test_the_init_script_points_at_the_document(client):
    assert "/api/openapi.json" in client.get("/docs/assets/init.js").text


def test_only_the_listed_assets_are_served(client):
    assert client.get("/docs/assets/README.md", status=404).json == {"error": "Not Found"}
    client.get("/docs/assets/..%2Fdocs%2Findex.html", status=404)
