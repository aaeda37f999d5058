"""Local stand-ins for the network services fieldcrm talks to, and fixtures that start them.

Use a fixture by importing it into the test module:
``from fakes import nominatim  # noqa: F401``.
"""

import pytest

from .nominatim import FakeNominatim


@pytest.fixture
def nominatim(app):
    """A running fake Nominatim, and the app's geocoder pointed at it without rate delay."""
    server = FakeNominatim().start()
    app.config.update(GEOCODER="nominatim", GEOCODER_DOMAIN=server.domain, GEOCODER_SCHEME="http",
                      GEOCODER_MIN_DELAY_S=0.0, GEOCODER_TIMEOUT=5.0,
                      GEOCODER_USER_AGENT="fieldcrm-tests/0.1 (+https://example.com/contact)")
    yield server
    server.stop()
