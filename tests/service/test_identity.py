"""What the planner trusts of its sign-in settings and of a sign-in's claims (no server, no provider)."""

from __future__ import annotations

import secrets

import pytest

from retrofit.service import identity
from retrofit.errors import RetrofitError
from retrofit.service.identity import Provider, settings_from_files, trusted_identity
from retrofit.paths import ROOT

EXAMPLE = ROOT / ".streamlit" / "secrets.example.toml"
TENANT = "9d2c6a4e-1b7f-4c3a-8e5d-2f6b0a9c7e13"
ENTRA_URL = f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
ENTRA_ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


def secrets_toml(cookie_secret: str | None = None, metadata_url: str = ENTRA_URL, **provider) -> str:
    settings = {"client_id": "5b1e8f3a-7c2d-4e9b-a6f0-3d8c1b7e4a29", "client_secret": "s3cr-" + "q7Zp" * 6,
                "server_metadata_url": metadata_url, **provider}
    lines = "".join(f'{key} = "{value}"\n' for key, value in settings.items() if value is not None)
    return ('[auth]\nredirect_uri = "https://planner.wmca.gov.uk/oauth2callback"\n'
            f'cookie_secret = "{cookie_secret or secrets.token_urlsafe(48)}"\n[auth.microsoft]\n{lines}'
            '[access]\nprogramme_managers = ["Pat@WMCA.gov.uk"]\n')


def settings_of(tmp_path, text: str | bytes):
    path = tmp_path / "secrets.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return settings_from_files([tmp_path / "absent.toml", path], EXAMPLE)


def test_no_secrets_file_is_local_mode_and_a_complete_one_is_read(tmp_path):
    assert settings_from_files([tmp_path / "absent.toml"], EXAMPLE) is None
    settings = settings_of(tmp_path, secrets_toml())
    assert settings.provider == Provider("microsoft", ENTRA_URL, TENANT) and settings.provider.entra
    assert settings.programme_managers == ("pat@wmca.gov.uk",)


@pytest.mark.parametrize("text, problem", [
    ("[auth\nredirect_uri = 1\n", "not valid TOML"),
    (b"[auth]\nredirect_uri = \"\xe9\"\n", "not UTF-8"),
    ("", "no \\[auth\\] section"),
    ("[access]\nprogramme_managers = []\n", "no \\[auth\\] section"),
    ('[auth]\nredirect_uri = "https://planner.wmca.gov.uk/"\n', "must be this app's address ending in /oauth2callback"),
    (secrets_toml(client_secret=None), "lacks client_secret"),
    (secrets_toml().replace("[auth.microsoft]", "[auth.google]\nclient_id = \"g\"\n[auth.microsoft]"),
     "2 providers"),
    (secrets_toml(metadata_url="https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"),
     "multi-tenant endpoint 'common'"),
    (secrets_toml(metadata_url="https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"),
     "multi-tenant"),
    (secrets_toml(metadata_url="http://idp.council.gov.uk/.well-known/openid-configuration"), "https://"),
    (secrets_toml(client_secret="REPLACE-with-the-client-secret-value"), "auth.microsoft.client_secret: still the example"),
    (secrets_toml(client_id="00000000-0000-0000-0000-000000000000"), "client_id: still the example"),
])
def test_settings_that_would_leave_the_app_open_are_refused_naming_the_file(tmp_path, text, problem):
    with pytest.raises(RetrofitError, match=problem) as refused:
        settings_of(tmp_path, text)
    assert str(tmp_path / "secrets.toml") in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize("secret, problem", [
    ("REPLACE-with-a-long-random-string", "placeholder"),
    ("changeme-changeme-changeme-changeme-1234", "placeholder"),
    ("test-only-secret", "16 characters long; it needs at least 32"),
    ("a" * 64, "not random enough"),
    ("ab" * 32, "not random enough"),
    ("0123456789" * 4, "not random enough"),
    ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF", "not random enough"),
])
def test_a_cookie_secret_anyone_could_know_is_refused_with_how_to_make_one(tmp_path, secret, problem):
    with pytest.raises(RetrofitError, match=problem) as refused:
        settings_of(tmp_path, secrets_toml(cookie_secret=secret))
    assert "secrets.token_urlsafe(48)" in str(refused.value) and secret not in str(refused.value)


def test_random_cookie_secrets_are_accepted():
    made = [secrets.token_urlsafe(48) for _ in range(300)] + [secrets.token_hex(16) for _ in range(300)]
    assert [s for s in made if identity.cookie_secret_problem(s)] == []


# --- claims -------------------------------------------------------------------------------------

ENTRA = Provider("microsoft", ENTRA_URL, TENANT)
OTHER = Provider(None, "http://127.0.0.1:9/.well-known/openid-configuration")
OTHER_ISSUER = "http://127.0.0.1:9"


def entra_claims(**changes) -> dict:
    return {"iss": ENTRA_ISSUER, "tid": TENANT, "oid": "1f0c5a3e-8b2d-4d7e-9a61-c3b8e2f4a907", "sub": "pairwise-x",
            "preferred_username": "Cora.Partner@coventry.gov.uk", **changes}


def test_an_entra_sign_in_in_the_tenant_is_trusted_and_bound_to_its_object_id():
    person = trusted_identity(entra_claims(), ENTRA, ENTRA_ISSUER)
    assert person == identity.Identity("cora.partner@coventry.gov.uk", "oid:1f0c5a3e-8b2d-4d7e-9a61-c3b8e2f4a907")
    guest = trusted_identity(entra_claims(email="cora@coventry.gov.uk", preferred_username="cora_x#EXT#@t.example"),
                             ENTRA, ENTRA_ISSUER)
    assert guest.email == "cora@coventry.gov.uk"


@pytest.mark.parametrize("claims, problem", [
    (entra_claims(iss="https://login.microsoftonline.com/another-tenant/v2.0"), "not by the configured provider"),
    (entra_claims(iss=None), "no issuer"),
    (entra_claims(tid="another-tenant"), "belongs to tenant another-tenant"),
    (entra_claims(tid=None), "tenant \\(none\\)"),
    (entra_claims(oid=None), "no object id"),
    (entra_claims(preferred_username=None), "gave no email"),
])
def test_an_entra_sign_in_from_elsewhere_is_refused(claims, problem):
    with pytest.raises(RetrofitError, match=problem):
        trusted_identity({k: v for k, v in claims.items() if v is not None}, ENTRA, ENTRA_ISSUER)


def test_another_provider_vouches_only_for_a_verified_email():
    claims = {"iss": OTHER_ISSUER, "sub": "u-17", "email": "Bo@Birmingham.gov.uk", "email_verified": True,
              "preferred_username": "bo"}
    assert trusted_identity(claims, OTHER, OTHER_ISSUER) == identity.Identity("bo@birmingham.gov.uk",
                                                                              f"sub:{OTHER_ISSUER}|u-17")
    for verified in (False, "true", None):
        with pytest.raises(RetrofitError, match="has not verified"):
            trusted_identity({**claims, "email_verified": verified}, OTHER, OTHER_ISSUER)
    with pytest.raises(RetrofitError, match="gave no email"):  # preferred_username is not an email it vouches for
        trusted_identity({**claims, "email": None}, OTHER, OTHER_ISSUER)
