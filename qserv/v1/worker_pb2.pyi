from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlanClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTERACTIVE: _ClassVar[PlanClass]
    SCAN: _ClassVar[PlanClass]
INTERACTIVE: PlanClass
SCAN: PlanClass

class ChunkQueryRequest(_message.Message):
    __slots__ = ("query_id", "database", "sql_template", "chunk_marker", "chunk_ids", "few_rows", "session_sql", "plan_class", "arg_marker", "chunk_args")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    SQL_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CHUNK_MARKER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_IDS_FIELD_NUMBER: _ClassVar[int]
    FEW_ROWS_FIELD_NUMBER: _ClassVar[int]
    SESSION_SQL_FIELD_NUMBER: _ClassVar[int]
    PLAN_CLASS_FIELD_NUMBER: _ClassVar[int]
    ARG_MARKER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ARGS_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    database: str
    sql_template: str
    chunk_marker: str
    chunk_ids: _containers.RepeatedScalarFieldContainer[int]
    few_rows: bool
    session_sql: str
    plan_class: PlanClass
    arg_marker: str
    chunk_args: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, query_id: _Optional[str] = ..., database: _Optional[str] = ..., sql_template: _Optional[str] = ..., chunk_marker: _Optional[str] = ..., chunk_ids: _Optional[_Iterable[int]] = ..., few_rows: _Optional[bool] = ..., session_sql: _Optional[str] = ..., plan_class: _Optional[_Union[PlanClass, str]] = ..., arg_marker: _Optional[str] = ..., chunk_args: _Optional[_Iterable[str]] = ...) -> None: ...

class ResultBatch(_message.Message):
    __slots__ = ("tsv", "row_count", "chunks_done")
    TSV_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_DONE_FIELD_NUMBER: _ClassVar[int]
    tsv: bytes
    row_count: int
    chunks_done: int
    def __init__(self, tsv: _Optional[bytes] = ..., row_count: _Optional[int] = ..., chunks_done: _Optional[int] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("query_id",)
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    def __init__(self, query_id: _Optional[str] = ...) -> None: ...

class CancelReply(_message.Message):
    __slots__ = ("killed",)
    KILLED_FIELD_NUMBER: _ClassVar[int]
    killed: int
    def __init__(self, killed: _Optional[int] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HealthReply(_message.Message):
    __slots__ = ("worker_id", "mariadb_ok", "running_jobs", "error")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    MARIADB_OK_FIELD_NUMBER: _ClassVar[int]
    RUNNING_JOBS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    mariadb_ok: bool
    running_jobs: int
    error: str
    def __init__(self, worker_id: _Optional[str] = ..., mariadb_ok: _Optional[bool] = ..., running_jobs: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class DdlRequest(_message.Message):
    __slots__ = ("database", "statements")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    STATEMENTS_FIELD_NUMBER: _ClassVar[int]
    database: str
    statements: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, database: _Optional[str] = ..., statements: _Optional[_Iterable[str]] = ...) -> None: ...

class DdlReply(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ContributionHeader(_message.Message):
    __slots__ = ("database", "table", "trans_id", "create_sql", "columns", "fields_terminated_by", "fields_enclosed_by", "fields_escaped_by", "lines_terminated_by", "ignore_lines", "contribution_id")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TRANS_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_SQL_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    FIELDS_TERMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_ENCLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_ESCAPED_BY_FIELD_NUMBER: _ClassVar[int]
    LINES_TERMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    IGNORE_LINES_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    table: str
    trans_id: int
    create_sql: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    fields_terminated_by: str
    fields_enclosed_by: str
    fields_escaped_by: str
    lines_terminated_by: str
    ignore_lines: int
    contribution_id: str
    def __init__(self, database: _Optional[str] = ..., table: _Optional[str] = ..., trans_id: _Optional[int] = ..., create_sql: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., fields_terminated_by: _Optional[str] = ..., fields_enclosed_by: _Optional[str] = ..., fields_escaped_by: _Optional[str] = ..., lines_terminated_by: _Optional[str] = ..., ignore_lines: _Optional[int] = ..., contribution_id: _Optional[str] = ...) -> None: ...

class ContributionBatch(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: ContributionHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[ContributionHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ContributionReply(_message.Message):
    __slots__ = ("rows", "bytes", "warnings")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    rows: int
    bytes: int
    warnings: int
    def __init__(self, rows: _Optional[int] = ..., bytes: _Optional[int] = ..., warnings: _Optional[int] = ...) -> None: ...

class BundleFile(_message.Message):
    __slots__ = ("table", "create_sql", "columns", "bytes", "contribution_id")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_SQL_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_ID_FIELD_NUMBER: _ClassVar[int]
    table: str
    create_sql: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    bytes: int
    contribution_id: str
    def __init__(self, table: _Optional[str] = ..., create_sql: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., bytes: _Optional[int] = ..., contribution_id: _Optional[str] = ...) -> None: ...

class BundleHeader(_message.Message):
    __slots__ = ("database", "trans_id", "fields_terminated_by", "fields_enclosed_by", "fields_escaped_by", "lines_terminated_by", "ignore_lines", "files")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TRANS_ID_FIELD_NUMBER: _ClassVar[int]
    FIELDS_TERMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_ENCLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    FIELDS_ESCAPED_BY_FIELD_NUMBER: _ClassVar[int]
    LINES_TERMINATED_BY_FIELD_NUMBER: _ClassVar[int]
    IGNORE_LINES_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    database: str
    trans_id: int
    fields_terminated_by: str
    fields_enclosed_by: str
    fields_escaped_by: str
    lines_terminated_by: str
    ignore_lines: int
    files: _containers.RepeatedCompositeFieldContainer[BundleFile]
    def __init__(self, database: _Optional[str] = ..., trans_id: _Optional[int] = ..., fields_terminated_by: _Optional[str] = ..., fields_enclosed_by: _Optional[str] = ..., fields_escaped_by: _Optional[str] = ..., lines_terminated_by: _Optional[str] = ..., ignore_lines: _Optional[int] = ..., files: _Optional[_Iterable[_Union[BundleFile, _Mapping]]] = ...) -> None: ...

class BundleBatch(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: BundleHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[BundleHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class BundleReply(_message.Message):
    __slots__ = ("rows", "bytes")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedScalarFieldContainer[int]
    bytes: int
    def __init__(self, rows: _Optional[_Iterable[int]] = ..., bytes: _Optional[int] = ...) -> None: ...

class TransactionRequest(_message.Message):
    __slots__ = ("database", "trans_id")
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    TRANS_ID_FIELD_NUMBER: _ClassVar[int]
    database: str
    trans_id: int
    def __init__(self, database: _Optional[str] = ..., trans_id: _Optional[int] = ...) -> None: ...

class TransactionReply(_message.Message):
    __slots__ = ("partitions_dropped",)
    PARTITIONS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    partitions_dropped: int
    def __init__(self, partitions_dropped: _Optional[int] = ...) -> None: ...

class TableCountsRequest(_message.Message):
    __slots__ = ("database",)
    DATABASE_FIELD_NUMBER: _ClassVar[int]
    database: str
    def __init__(self, database: _Optional[str] = ...) -> None: ...

class TableCount(_message.Message):
    __slots__ = ("table", "trans_id", "rows", "data_bytes", "index_bytes")
    TABLE_FIELD_NUMBER: _ClassVar[int]
    TRANS_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    DATA_BYTES_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    table: str
    trans_id: int
    rows: int
    data_bytes: int
    index_bytes: int
    def __init__(self, table: _Optional[str] = ..., trans_id: _Optional[int] = ..., rows: _Optional[int] = ..., data_bytes: _Optional[int] = ..., index_bytes: _Optional[int] = ...) -> None: ...

class TableCountsReply(_message.Message):
    __slots__ = ("counts",)
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedCompositeFieldContainer[TableCount]
    def __init__(self, counts: _Optional[_Iterable[_Union[TableCount, _Mapping]]] = ...) -> None: ...
