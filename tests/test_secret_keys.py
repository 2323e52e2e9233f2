"""The keys derived from the app's secret: one construction, a different key for each use."""

import hashlib
import hmac

from app.admin import csrf
from app.services import form_submissions, passwordless
from app.services.secret_keys import derived_key
from tests.fixtures.app import TEST_JWT_SECRET


def test_a_key_is_the_hmac_of_its_purpose_under_the_secret():
    # The construction the stored form-submission address hashes were made with: it must not change.
    expected = hmac.new(TEST_JWT_SECRET.encode(), b"sonicpy form ip hash", hashlib.sha256).digest()
    assert derived_key(TEST_JWT_SECRET, "sonicpy form ip hash") == expected
    assert form_submissions.IP_HASH_PURPOSE == "sonicpy form ip hash"


def test_each_use_has_a_key_of_its_own():
    purposes = [form_submissions.IP_HASH_PURPOSE, passwordless.CODE_KEY_PURPOSE, csrf.KEY_PURPOSE]
    keys = {derived_key(TEST_JWT_SECRET, purpose) for purpose in purposes}
    assert len(keys) == len(purposes) and TEST_JWT_SECRET.encode() not in keys
    assert derived_key("another secret", purposes[0]) != derived_key(TEST_JWT_SECRET, purposes[0])
