//! Logical backups: pg_dump/pg_restore streamed between the container and ./backups.
