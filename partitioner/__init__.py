"""The partitioner (DESIGN §2, §3): CSV/TSV (gzip too) and Parquet catalogs -> per-chunk files.

    config (a DatabaseSpec JSON/YAML) -> tasks (byte ranges of files, Parquet row groups)
      -> process pool: read a block (pyarrow) -> chunk it (numpy, qserv.geometry.Chunker)
         -> append each chunk's rows to `<out>/<Table>/chunk_<id>.csv` (and the overlap rows to
            `chunk_<id>_overlap.csv`, the director index to `index.part`), under a file lock
      -> finish: director index file, checksums, manifest.json

`qserv partition` is the command (qserv/cli.py); `partition()` the API the loader uses.
"""

from partitioner.run import PartitionError, Options, partition

__all__ = ["PartitionError", "Options", "partition"]
