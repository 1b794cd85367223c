//! SQLite (to be written).
