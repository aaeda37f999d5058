"""Logging in and out: hashing, the rate limit, remember me, cookie flags, deactivated users."""

import re

import sqlalchemy as sa
from authz import JUNK

from fieldcrm import create_app
from fieldcrm.models import LoginAttempt, User


def test_junk_at_the_login_is_never_a_500(client, world):
    """The login form is anonymous, so tests/authz.check_junk (logged in) never fills it."""
    client.refresh_csrf()
    for junk in JUNK:
        for data in ({"email": junk, "password": "x"}, {"email": "rep1@example.com", "password": junk},
                     {"email": "rep1@example.com", "password": "x", "remember": junk}):
            response = client.form("/login", data)
            assert response.status_code in (401, 422, 429), (data, response.status_code)


def test_login_and_logout(client, world):
    response = client.login("rep1@example.com")
    assert response.status_code == 302
    assert client.get("/customers").status_code == 200
    assert client.form("/logout").status_code == 302
    assert client.get("/customers").status_code == 302


def test_password_is_hashed(db, world):
    stored = db.session.get(User, world.rep.id).password_hash
    assert "correct-horse" not in stored and stored.startswith("pbkdf2:")


def test_production_hash_is_scrypt(database_url, db):
    from fieldcrm.auth import hash_password

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})
    with app.app_context():
        assert hash_password("secret-password").startswith("scrypt:")
        db.engine.dispose()


def test_wrong_password_generic_message(client, world):
    client.refresh_csrf()
    wrong_password = client.form("/login", {"email": "rep1@example.com", "password": "nope"})
    unknown_user = client.form("/login", {"email": "ghost@example.com", "password": "nope"})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Email or password is wrong." in wrong_password.get_data(as_text=True)
    assert "Email or password is wrong." in unknown_user.get_data(as_text=True)


def test_rate_limit_blocks_after_failures_even_with_right_password(client, world, app, db):
    client.refresh_csrf()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert client.form("/login", {"email": "rep1@example.com", "password": "bad"}).status_code == 401
    blocked = client.form("/login", {"email": "rep1@example.com", "password": "correct-horse-battery"})
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 5


def test_success_clears_failures(client, world, db):
    client.refresh_csrf()
    client.form("/login", {"email": "rep1@example.com", "password": "bad"})
    assert client.login("rep1@example.com").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)) == 0


def test_deactivated_user_cannot_log_in(client, world, db):
    world.rep.active = False
    db.session.commit()
    assert client.login("rep1@example.com").status_code == 401


def test_deactivation_ends_running_session(client, world, db):
    client.login("rep1@example.com")
    world.rep.active = False
    db.session.commit()
    assert client.get("/customers").status_code == 302


def test_remember_me_sets_cookie_with_flags(database_url, world, db):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x", "TESTING": True,
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    http = app.test_client()
    page = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response = http.post("/login", data={"email": "rep1@example.com", "password": "correct-horse-battery",
                                         "remember": "1", "csrf_token": token})
    cookies = response.headers.getlist("Set-Cookie")
    remember = next(c for c in cookies if c.startswith("remember_token="))
    session = next(c for c in cookies if c.startswith("session="))
    for cookie in (remember, session):
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        db.engine.dispose()


def test_open_redirect_is_refused(client, world):
    client.refresh_csrf()
    response = client.form("/login?next=//evil.example/x",
                           {"email": "rep1@example.com", "password": "correct-horse-battery"})
    assert response.headers["Location"] == "/"
