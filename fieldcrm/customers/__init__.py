"""Customers and their contacts: validation, writes (operations) and reads (queries)."""
