"""Administration: users, territories and the product catalogue."""
