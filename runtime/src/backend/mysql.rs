//! MySQL and MariaDB (to be written).
