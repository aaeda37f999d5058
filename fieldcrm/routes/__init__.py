"""Blueprints: one per area, thin views over the services."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from . import (
        account,
        admin,
        api,
        auth,
        customers,
        followups,
        imports,
        main,
        nearby,
        orders,
        sync,
        visits,
    )

    for module in (main, auth, account, customers, nearby, visits, orders, followups, imports,
                   admin, api, sync):
        app.register_blueprint(module.bp)
