"""The outcome of a mutation that cannot be applied."""


class Rejected(Exception):  # noqa: N818  (an outcome, reported to the device)
    """The mutation cannot be applied; ``reason`` is a stable code, ``details`` the specifics."""

    def __init__(self, reason: str, details: dict | None = None):
        super().__init__(reason)
        self.reason = reason
        self.details = details or {}
