"""Database: engine, ORM tables, alembic migrations."""
