"""flows package of hardmine."""
