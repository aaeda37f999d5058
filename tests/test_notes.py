"""A rep captures a note in one text box, with a channel, on a customer or a visit."""

import pytest
import sqlalchemy as sa
from werkzeug.test import encode_multipart

from fieldcrm.models import NOTE_CHANNELS, History, Note
from fieldcrm.validation import ValidationError
from fieldcrm.visits import operations
from fieldcrm.visits.labels import CHANNEL_LABELS

HTMX = {"HX-Request": "true"}


def notes(db) -> list[Note]:
    return list(db.session.scalars(sa.select(Note)))


def history_count(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(History))


def test_note_is_saved_with_channel_and_first_line_in_history(client, world, db):
    client.login("rep1@example.com")
    body = "\n  Rückruf wegen Angebot\nDetails: neue Kaffeemaschine, 2 Stück\n"
    response = client.form(f"/customers/{world.customer.id}/notes",
                           {"body": body, "channel": "phone"}, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "fieldcrm:history"
    assert "Note saved." in response.get_data(as_text=True)
    [note] = notes(db)
    assert note.body == body.strip() and note.channel == "phone"
    assert (note.customer_id, note.user_id, note.visit_id) == (world.customer.id, world.rep.id, None)
    [entry] = db.session.scalars(sa.select(History).where(History.kind == "note")).all()
    assert (entry.field, entry.new, entry.ref_id) == ("created", "Rückruf wegen Angebot", note.id)


def test_note_while_checked_in_belongs_to_the_visit(client, world, db):
    visit = operations.check_in(world.rep, world.customer, {}, form=False)
    db.session.commit()
    client.login("rep1@example.com")
    client.form(f"/customers/{world.customer.id}/notes", {"body": "Chef war da", "channel": "visit"})
    client.form(f"/customers/{world.customer.id}/notes", {"body": "Mail kam", "channel": "email"})
    by_body = {n.body: n for n in notes(db)}
    assert by_body["Chef war da"].visit_id == visit.id
    assert by_body["Mail kam"].visit_id is None


def test_note_channel_defaults_to_visit(world, db):
    note = operations.create_note(world.rep, {"customer_id": str(world.customer.id), "body": "x"})
    assert note.channel == "visit"


def test_a_one_megabyte_note_is_refused_and_nothing_is_written(client, world, db):
    client.login("rep1@example.com")
    before = history_count(db)
    response = client.form(f"/customers/{world.customer.id}/notes",
                           {"body": "x" * 1_000_000, "channel": "phone"}, headers=HTMX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "At most 10000 characters." in body and 'id="note-panel"' in body
    assert len(body) < 20_000  # the megabyte is not sent back
    assert notes(db) == [] and history_count(db) == before


def test_a_one_megabyte_multipart_note_is_refused_before_parsing(client, world, db):
    client.login("rep1@example.com")
    before = history_count(db)
    # Encoded here: the test client would spool a megabyte to a file it never closes.
    boundary, payload = encode_multipart({"csrf_token": client.csrf, "body": "x" * 1_000_000,
                                          "channel": "visit"})
    response = client.http.post(f"/customers/{world.customer.id}/notes", data=payload, headers=HTMX,
                                content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "The note is too long: at most 10,000 characters." in body
    assert 'id="note-panel"' in body
    assert notes(db) == [] and history_count(db) == before


def test_a_note_just_over_the_limit_keeps_the_text_for_shortening(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/notes",
                           {"body": "y" * 10_001, "channel": "visit"}, headers=HTMX)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "At most 10000 characters." in body and "y" * 10_001 in body
    assert notes(db) == []
    assert client.form(f"/customers/{world.customer.id}/notes",
                       {"body": "y" * 10_000}).status_code == 303


@pytest.mark.parametrize(("form", "message"), [
    ({"body": "   "}, "This field is required."),
    ({"body": "ok", "channel": "fax"}, "Choose one of"),
    ({"body": "a\x00b"}, "Contains invalid characters."),
])
def test_bad_note_gets_a_message(client, world, db, form, message):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/notes", form, headers=HTMX)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert notes(db) == []


def test_bad_note_without_htmx_shows_the_form_on_its_own_page(client, world, db):
    client.login("rep1@example.com")
    response = client.form(f"/customers/{world.customer.id}/notes", {"body": ""})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<html" in page and "This field is required." in page


def test_note_on_a_customer_out_of_scope_is_refused(world, db):
    with pytest.raises(ValidationError) as exc:
        operations.create_note(world.rep, {"customer_id": str(world.other_customer.id), "body": "x"})
    assert set(exc.value.errors) == {"customer_id"}


def test_note_on_another_customers_visit_is_refused(world, db):
    visit = operations.check_in(world.other_rep, world.other_customer, {}, form=False)
    with pytest.raises(ValidationError) as exc:
        operations.create_note(world.admin, {"customer_id": str(world.customer.id),
                                             "visit_id": str(visit.id), "body": "x"})
    assert set(exc.value.errors) == {"visit_id"}


def test_json_note_must_use_json_types(world, db):
    with pytest.raises(ValidationError) as exc:
        operations.create_note(world.rep, {"customer_id": str(world.customer.id), "body": 42,
                                           "colour": "red"}, form=False)
    assert set(exc.value.errors) == {"body", "colour"}


def test_note_page_shows_the_whole_text(client, make_client, world, db):
    note = operations.create_note(world.rep, {"customer_id": str(world.customer.id),
                                              "channel": "letter", "body": "Zeile 1\nZeile 2"})
    db.session.commit()
    client.login("manager@example.com")
    page = client.get(f"/notes/{note.id}").get_data(as_text=True)
    assert "Zeile 1\nZeile 2" in page and "Letter" in page
    other = make_client()
    other.login("rep2@example.com")
    assert other.get(f"/notes/{note.id}").status_code == 404


def test_first_line_is_shortened():
    assert operations.first_line("\n\n  Hallo  \nWelt") == "Hallo"
    assert operations.first_line("") == ""
    long = operations.first_line("a" * 500)
    assert len(long) == 200 and long.endswith("…")


def test_channel_labels_cover_every_channel():
    assert tuple(CHANNEL_LABELS) == NOTE_CHANNELS
