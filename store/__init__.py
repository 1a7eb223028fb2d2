"""store package of hardmine."""
