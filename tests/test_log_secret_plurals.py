"""A query parameter named by the plural of a secret word is filtered from the request log as
the word itself is: ``passes`` (an "es" plural) and acronyms' plurals (``myPINs``, ``OTPs``,
``JWTs``), which the camelCase split used to cut before their last capital."""

import pytest

from app.db.models import SystemLog
from app.services.log_buffer import flush_process_buffer

pytestmark = pytest.mark.backends


def logged_url(client, headers, query):
    client.get(f"/api/collections?{query}", status=200)
    flush_process_buffer()
    exported = client.get("/admin/api/logs/export?format=json&search=/api/collections", headers=headers).json
    [entry] = [entry for entry in exported["data"] if entry["url"].startswith("/api/collections?")]
    assert SystemLog.get_by_id(entry["id"]).url == entry["url"]  # filtered as written, not only as shown
    return entry["url"]


def test_plurals_of_secret_words_are_filtered_and_look_alikes_are_not(client, as_editor, held):
    _, headers = as_editor
    query = ("passes=p1&myPINs=p2&OTPs=p3&JWTs=p4&apiCODEs=p5&SESSIONS=p6"
             "&bypasses=k1&pines=k2&IDs=k3&URLs=k4&page=1")
    assert logged_url(client, headers, query) == (
        "/api/collections?passes=[FILTERED]&myPINs=[FILTERED]&OTPs=[FILTERED]&JWTs=[FILTERED]"
        "&apiCODEs=[FILTERED]&SESSIONS=[FILTERED]&bypasses=k1&pines=k2&IDs=k3&URLs=k4&page=1")
