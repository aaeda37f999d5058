"""The offline sync endpoints: push, pull, and the device's rejected changes."""

from flask import Blueprint, current_app, jsonify
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..api.protocol import ApiError, json_body
from ..errors import api_error
from ..extensions import db
from ..models import SyncRejection, utcnow
from ..scope import parse_uuid_or_404
from ..sync import pull as pull_module
from ..sync import pull_rows
from ..sync import push as push_module
from ..sync.push import ProtocolError

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync")


@bp.errorhandler(ProtocolError)
def _protocol_error(exc: ProtocolError):
    return api_error(exc.status, exc.message, code=exc.code, **exc.extra)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    body, status = api_error(exc.status, exc.message, code=exc.code)
    return body, status, exc.headers


@bp.post("/push")
@login_required
def push():
    body = json_body()
    try:
        result = push_module.push(current_user, body)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return jsonify(result)


@bp.post("/pull")
@login_required
def pull():
    body = json_body()
    result = pull_module.pull(current_user, body)
    db.session.commit()
    # Not jsonify: most changes are JSON text the database wrote (fieldcrm.sync.pull_rows).
    return current_app.response_class(pull_rows.encode(result), mimetype="application/json")


def _rejection_json(row: SyncRejection) -> dict:
    return {"id": str(row.id), "mutation_id": row.mutation_id, "entity": row.entity,
            "entity_id": str(row.entity_id), "op": row.op, "fields": row.fields,
            "reason": row.reason, "details": row.details,
            "created_at": row.created_at.isoformat()}


@bp.get("/rejections")
@login_required
def rejections():
    rows = db.session.scalars(
        db.select(SyncRejection).where(SyncRejection.user_id == current_user.id,
                                       SyncRejection.dismissed_at.is_(None))
        .order_by(SyncRejection.created_at.desc()).limit(200)
    )
    return jsonify(items=[_rejection_json(r) for r in rows], next=None)


@bp.post("/rejections/<rejection_id>/dismiss")
@login_required
def dismiss(rejection_id):
    row = db.session.get(SyncRejection, parse_uuid_or_404(rejection_id))
    if row is None or row.user_id != current_user.id:
        return api_error(404, _("Not found."))
    row.dismissed_at = utcnow()
    db.session.commit()
    return "", 204
