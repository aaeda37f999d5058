"""Entry point for gunicorn: ``gunicorn wsgi:app``."""

from fieldcrm import create_app

app = create_app()
