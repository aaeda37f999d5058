"""Visits (check-in, check-out, planned visits, the agenda) and notes: writes in
``operations``, reads in ``queries``, the user's calendar day in ``localtime``."""
