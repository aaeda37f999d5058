"""Command-line tools: ``flask fieldcrm demo``, ``flask fieldcrm create-user``."""

import click
from flask import Flask

from .extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.group("fieldcrm")
    def fieldcrm_group():
        """fieldcrm administration."""

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
