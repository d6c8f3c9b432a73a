//! PostgreSQL 16 reads the rendered files.
