"""The app's JSON media handler: msgspec both ways, responses encoded straight to bytes."""

import falcon
import falcon.media

from app.app import create_app
from tests.fixtures.app import settings_for_tests


def test_responses_are_encoded_to_bytes_once(env):
    app = create_app(env, settings_for_tests())
    handler = app.resp_options.media_handlers[falcon.MEDIA_JSON]
    # falcon sends what a bytes-answering dumps gives as it is; a str one it encodes again.
    assert handler.serialize == handler._serialize_b
    assert handler.serialize({"title": "café", "n": [1, None]}, falcon.MEDIA_JSON) == '{"title":"café","n":[1,null]}'.encode()


def test_json_bodies_still_round_trip(client):
    response = client.post_json("/auth/login", {"email": "nobody@example.com", "password": "wrong-password"},
                                status=401)
    assert isinstance(response.json["error"], str)
