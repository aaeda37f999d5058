"""Blueprints: one per area, thin views over the services."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import account, admin, api, auth, customers, imports, main, nearby

    for module in (main, auth, account, customers, nearby, imports, admin, api):
        app.register_blueprint(module.bp)
