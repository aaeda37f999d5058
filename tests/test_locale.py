"""German and English: the locale from the user's setting, else Accept-Language; formats per locale."""

from decimal import Decimal

from flask_babel import force_locale

from fieldcrm.formatting import money


def test_accept_language_picks_german(client, world):
    page = client.get("/login", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_data(as_text=True)
    assert 'lang="de"' in page and "Anmelden" in page


def test_user_setting_beats_accept_language(client, world, db):
    world.rep.locale = "en"
    db.session.commit()
    client.login("rep1@example.com")
    page = client.get("/customers", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert 'lang="en"' in page and "Customers" in page


def test_money_formats_per_locale(app):
    with app.test_request_context(), force_locale("de"):
        assert money(Decimal("1234.56")) == "1.234,56\xa0€"
    with app.test_request_context(), force_locale("en"):
        assert money(Decimal("1234.56")) == "€1,234.56"


def test_times_shown_in_users_zone(app, world, client, db):
    world.rep.locale = "de"
    db.session.commit()
    client.login("rep1@example.com")
    page = client.get(f"/customers/{world.customer.id}").get_data(as_text=True)
    assert "Kunden" in page or "Kontakte" in page


def test_templates_translate_in_the_locale_of_the_moment(app):
    """Templates look the translations up once per request and locale; a force_locale
    block inside the request still gets its own language, and the request's afterwards."""
    template = app.jinja_env.from_string("{{ _('Log out') }}|{{ ngettext('%(num)s due', '%(num)s due', 2) }}")
    with app.test_request_context(headers={"Accept-Language": "de"}):
        assert template.render() == "Abmelden|2 fällig"
        with force_locale("en"):
            assert template.render() == "Log out|2 due"
        assert template.render() == "Abmelden|2 fällig"
