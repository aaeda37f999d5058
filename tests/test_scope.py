"""The scope clause is written so each database answers it from its indexes (docs/PERFORMANCE.md):
a plain seq scan of all customers per request is what made the due list miss its target."""

import sqlalchemy as sa

from fieldcrm.models import Customer
from fieldcrm.scope import customer_scope


def _count_of_scope(user):
    return sa.select(sa.func.count()).select_from(Customer).where(customer_scope(user), ~Customer.deleted)


def test_scope_counts_what_each_role_sees(db, world, make_customer):
    make_customer(name="Ohne Gebiet", owner_id=world.rep.id)  # owned, in no territory of theirs
    counts = {user.email: db.session.scalar(_count_of_scope(user))
              for user in (world.rep, world.other_rep, world.manager, world.admin)}
    assert counts == {"rep1@example.com": 2, "rep2@example.com": 1, "manager@example.com": 2,
                      "admin@example.com": 3}


def test_scope_is_answered_from_the_indexes(db, world):
    query = _count_of_scope(world.rep)
    compiled = query.compile(dialect=db.engine.dialect)
    if db.engine.dialect.name == "postgresql":
        # IN (subquery) OR … becomes hashed subplans over a full scan on PostgreSQL.
        assert "territory_id = ANY(ARRAY(SELECT" in str(compiled)
        return
    params = tuple(value.hex if hasattr(value, "hex") else value
                   for value in (compiled.params[name] for name in compiled.positiontup))
    plan = [row[3] for row in db.session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + str(compiled), params)]
    assert "MULTI-INDEX OR" in plan, plan
    assert not any(step.startswith("SCAN customer") for step in plan), plan
