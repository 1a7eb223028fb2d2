"""model package of hardmine."""
