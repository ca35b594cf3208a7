"""The top floor: what an operator or a test drives a cluster with (DESIGN §2).

The `qserv` command line (`cli.py`), the local cluster and its supervisor (`cluster.py`,
`supervisor.py`), the ingest client (`ingest_client.py`: also `load`, the one load path),
`qserv replicate`, the demo catalog, the build of the compiled loops (`kernels.py`) and the
oracle loader (`oracle.py`: the same rows in one plain MariaDB, for tests and benchmarks).
The only place in `qserv/` that may import a role (`partitioner`, `czar`, `worker`); the
core below it (`qserv/*.py`) imports none.
"""
