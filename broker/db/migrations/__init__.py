"""Alembic migrations of the broker's database (run with `broker db upgrade`)."""
