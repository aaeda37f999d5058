"""Test helpers shared by tests/ and tests/browser/ (both have a conftest.py, so import these from here)."""

import re

PASSWORD = "correct-horse-battery"


class Client:
    """A test client that knows the CSRF token and logs in like a user."""

    def __init__(self, flask_client):
        self.http = flask_client
        self.csrf = None

    def __getattr__(self, name):
        return getattr(self.http, name)

    def refresh_csrf(self) -> str:
        page = self.http.get("/login").get_data(as_text=True)
        if "csrf-token" not in page:
            page = self.http.get("/account").get_data(as_text=True)
        self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        return self.csrf

    def login(self, email: str, password: str = PASSWORD):
        self.refresh_csrf()
        response = self.http.post("/login", data={"email": email, "password": password,
                                                  "csrf_token": self.csrf})
        self.refresh_csrf()
        return response

    def form(self, path: str, data: dict | None = None, **kwargs):
        """POST a form the way the browser does, with the CSRF token."""
        return self.http.post(path, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def api(self, method: str, path: str, json=None, token: str | None = None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.csrf:
            headers["X-CSRFToken"] = self.csrf
        return self.http.open(path, method=method, json=json, headers=headers, **kwargs)
