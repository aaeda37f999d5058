"""Browser fixtures: the real app on a live server, driven by Debian's headless Chromium.

Every test in this folder is marked ``browser`` and put in one xdist group, so that
``pytest -n 2 --dist loadgroup`` runs them on a single worker with one browser and one
server. They run once, on SQLite: the database matrix is the integration suite's job.

The ``app`` fixture is overridden here, so the root factories (``make_user``, ``world``, …)
seed the live server's database. Seeded rows must be committed (the factories do) because
the server answers from its own threads and sessions.
"""

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from fieldcrm import create_app
from fieldcrm.extensions import db as _db

CHROMIUM = os.environ.get("FIELDCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}
HERE = Path(__file__).parent
_reports_key = pytest.StashKey[dict]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # tryfirst: xdist reads the xdist_group marker in its own hook of the same name.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_reports_key, {})[report.when] = report
    return report


def _missing_browser(reason: str):
    """CI must fail when the browser is missing; a developer's machine may skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: browser tests are required; apt-get install chromium)",
                    pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def root_conftest(pytestconfig):
    """tests/conftest.py as a module: tests/ is not a package, so `import conftest` is ambiguous."""
    module = pytestconfig.pluginmanager.get_plugin(str(HERE.parent / "conftest.py"))
    assert module is not None, "tests/conftest.py is not loaded"
    return module


@pytest.fixture(scope="session")
def password(root_conftest) -> str:
    """The password every factory-made user has."""
    return root_conftest.PASSWORD


@pytest.fixture(scope="session")
def artifacts(pytestconfig) -> Path:
    """test-artifacts/ at the repository root (git-ignored): screenshots to look at."""
    path = pytestconfig.rootpath / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, root_conftest):
    """The app on a freshly migrated SQLite file, served on 127.0.0.1 from a background thread."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser-db') / 'live.sqlite'}"
    root_conftest.migrate_database(url)
    app = create_app(root_conftest.app_config(url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    server.app = app
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def app(live_server, root_conftest):
    """The live server's app with an app context, on empty tables (overrides the root fixture)."""
    with live_server.app.app_context():
        root_conftest.clear_tables()
        yield live_server.app
        _db.session.remove()
        root_conftest.clear_tables()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _missing_browser(f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("playwright is not installed (pip install -e '.[dev]')")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def new_page(browser, live_server, app, artifacts, request):
    """Open a page in a fresh browser context (own cookies) on a 390×844 phone.

    Uncaught page errors and failed static files fail the test; on failure every page
    opened by the test is saved to test-artifacts/failures/.
    """
    contexts, problems = [], []

    def open_page(locale: str = "en-US", **options):
        context = browser.new_context(base_url=live_server.url, locale=locale, **PHONE, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
        page.on("response", lambda response: _check_static(response, problems))
        return page

    yield open_page
    report = request.node.stash.get(_reports_key, {}).get("call")
    if report is not None and report.failed:
        folder = artifacts / "failures"
        folder.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                page.screenshot(path=folder / f"{name}-{n}-{m}.png", full_page=True)
    for context in contexts:
        context.close()
    assert not problems, "the browser saw errors:\n" + "\n".join(problems)


def _check_static(response, problems: list[str]) -> None:
    if "/static/" in response.url and response.status >= 400:
        problems.append(f"{response.status} {response.url}")


@pytest.fixture
def page(new_page):
    """One phone-sized page in a fresh context."""
    return new_page()


@pytest.fixture
def log_in(password):
    """Log in through the login form and land on the start page (nearby for reps)."""
    from playwright.sync_api import expect

    def log_in_as(page, email: str, secret: str | None = None):
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(secret or password)
        page.get_by_role("button", name="Log in").click()
        # Not /login?next=/customers: a login that did not stick must fail here.
        expect(page).to_have_url(re.compile(r"^[^?]*/(customers|nearby)$"))

    return log_in_as


@pytest.fixture
def profile_page(browser, live_server, app, tmp_path, pytestconfig):
    """A phone-sized page in a persistent (not incognito) profile, as an installed app has:
    Chromium reports "in-incognito" as an installability error in ordinary test contexts.
    Page errors and failed static files fail the test, as with ``new_page``."""
    context = browser.browser_type.launch_persistent_context(
        tmp_path / "profile", executable_path=CHROMIUM, headless=True,
        args=CHROMIUM_ARGS, base_url=live_server.url, locale="en-US", **PHONE)
    context.set_default_timeout(10_000)
    problems = []
    page = context.pages[0] if context.pages else context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if "/static/" in r.url and r.status >= 400 else None)
    yield page
    context.close()
    assert not problems, "the browser saw errors:\n" + "\n".join(problems)
