//! The checked-in schema.
