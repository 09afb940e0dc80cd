"""The findings store: the database (SQLite or PostgreSQL), its migrations, and recording one checked message once."""
