"""Service error kinds are an enum, each mapped to its HTTP status in one table."""

import falcon
import pytest

from app.api.errors import SERVICE_ERROR_STATUS
from app.services.content.errors import ContentConflict, ContentNotFound
from app.services.errors import ErrorKind, ServiceError
from app.services.media import FileTooLarge, UnsupportedType


def test_every_kind_has_exactly_one_status():
    assert set(SERVICE_ERROR_STATUS) == set(ErrorKind)
    # The client's to change, but for "not now" (another schema change in progress).
    assert all(status.startswith("4") for kind, status in SERVICE_ERROR_STATUS.items() if kind != ErrorKind.UNAVAILABLE)
    assert SERVICE_ERROR_STATUS[ErrorKind.UNAVAILABLE] == falcon.HTTP_503


def test_a_kind_that_is_not_an_error_kind_fails_at_class_definition():
    with pytest.raises(TypeError, match="Typo.kind must be an ErrorKind, not 'not_fuond'"):
        class Typo(ServiceError):
            kind = "not_fuond"
    # A bare string is refused even when it spells a member: kinds are written with the enum.
    with pytest.raises(TypeError, match="must be an ErrorKind"):
        class Plain(ServiceError):
            kind = "not_found"


def test_the_areas_errors_carry_enum_kinds():
    assert ContentNotFound.kind is ErrorKind.NOT_FOUND
    assert ContentConflict.kind is ErrorKind.CONFLICT
    assert FileTooLarge.kind is ErrorKind.TOO_LARGE
    assert SERVICE_ERROR_STATUS[UnsupportedType.kind] == falcon.HTTP_415


def test_a_service_error_answers_the_status_of_its_kind(app_client, make_user):
    _, admin = make_user("admin")
    # The content service raises ContentNotFound; the API maps its kind once.
    response = app_client.put_json("/api/content/no-such-item", {"title": "x"}, headers=admin, status=404)
    assert response.json == {"error": "Content not found"}
