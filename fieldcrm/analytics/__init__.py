"""Analytical CRM: ABC classes, visit cadence, lifecycle signals and visit preparation.

- ``revenue``: the one aggregate over orders that ABC and the risk signals share;
- ``abc``: classes by revenue, recomputed set-based for all customers;
- ``risk``: "at risk" flags with a machine-readable reason;
- ``cadence``: when a customer's next visit is due, and the "due for a visit" list;
- ``preparation``: everything the rep reads before walking in;
- ``nightly``: the job and command that run ABC and the risk signals.
"""
