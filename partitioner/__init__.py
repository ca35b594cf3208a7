"""The partitioner (DESIGN §2, §3): CSV/TSV (gzip too) and Parquet catalogs -> per-chunk files.

    config (a DatabaseSpec JSON/YAML) -> tasks (byte ranges of files, Parquet row groups)
      -> chunk files predicted from a sample of the input created up front (presample.py)
      -> process pool: a block of lines (mapped, not copied) -> parse only key/ra/dec
         (lines.py, compiled loops in kernels.py; any doubt: pyarrow parses the block) ->
         chunk it (numpy, qserv.geometry.Chunker) -> each row's own line +
         ",chunkId,subChunkId" grouped by chunk into a reused buffer (emit.py, buffers.py)
         -> appended to `<out>/<Table>/chunk_<id>.csv` (overlap rows to
         `chunk_<id>_overlap.csv`, the director index to `index.part` and `index.csv`) by a
         background thread (appender.py; with -j > 1 the parent's, relay.py), which also
         computes each file's CRC32
      -> finish: checksums (read back only for files several processes wrote), manifest.json

`qserv partition` is the command (qserv/admin/cli.py); `partition()` the API the loader uses.
"""

from partitioner.run import PartitionError, Options, partition

__all__ = ["PartitionError", "Options", "partition"]
