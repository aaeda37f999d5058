"""Follow-ups ("call back Friday about the offer"): writes in ``operations``, reads in ``queries``."""
