"""Orders: pricing (pure arithmetic), writes (operations) and reads (queries)."""
