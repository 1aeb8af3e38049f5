"""The database: the tables (``models``), the UTC column type, DML results (``dml``), the schema revision and migrations, the SQLite file.

Import rule: below every wing. Modules here import SQLAlchemy, Alembic and ``broker.extensions``,
never a wing (``broker.login``, ``broker.staff``, ...).
"""
