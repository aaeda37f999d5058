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
        insights,
        main,
        nearby,
        orders,
        pwa,
        sync,
        visits,
    )

    for module in (main, auth, account, customers, nearby, visits, orders, followups, imports,
                   insights, admin, api, sync, pwa):
        app.register_blueprint(module.bp)
