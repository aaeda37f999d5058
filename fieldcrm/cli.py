"""Command-line tools: ``flask fieldcrm demo``, ``flask fieldcrm create-user``."""

import importlib

import click
from flask import Flask

from .extensions import db

# Modules that register job handlers with fieldcrm.jobs.handler.
JOB_MODULES = ("fieldcrm.geocoding", "fieldcrm.imports.operations", "fieldcrm.analytics.nightly")


def register_cli(app: Flask) -> None:
    @app.cli.command("worker")
    @click.option("--once", is_flag=True, help="Run what is due now, then exit (tests, cron).")
    @click.option("--kind", "kinds", multiple=True, help="Only jobs of this kind (repeatable).")
    def worker_command(once, kinds):
        """Run background jobs (geocoding, imports) until stopped."""
        from .jobs import work

        for module in JOB_MODULES:
            importlib.import_module(module)
        ran = work(once=once, kinds=list(kinds) or None)
        if once:
            click.echo(f"ran {ran} job(s)")

    @app.cli.group("fieldcrm")
    def fieldcrm_group():
        """fieldcrm administration."""

    from .analytics.nightly import abc_command

    fieldcrm_group.add_command(abc_command)
    from .sync.retention import purge_command

    fieldcrm_group.add_command(purge_command)

    @fieldcrm_group.command("demo")
    def demo_command():
        """Load the demo data set (refuses to touch a database with other users)."""
        from .demo import DemoRefused, load_demo

        try:
            summary = load_demo()
        except DemoRefused as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(summary)

    @fieldcrm_group.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", type=click.Choice(["rep", "manager", "admin"]), default="admin")
    @click.password_option()
    def create_user_command(email, name, role, password):
        """Create a user (the first admin of a real installation)."""
        from .admin.operations import create_user
        from .validation import ValidationError

        try:
            user = create_user({"email": email, "name": name, "role": role, "password": password})
        except ValidationError as exc:
            raise click.ClickException("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from None
        db.session.commit()
        click.echo(f"created {user.role} {user.email}")
