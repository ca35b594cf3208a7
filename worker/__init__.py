"""The worker daemon: runs chunk queries on its own MariaDB and streams rows to the czar."""
