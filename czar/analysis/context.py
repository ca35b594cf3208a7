"""What the analysis passes learn about one user query (the logical side, DESIGN §5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp

from czar.catalog_cache import CatalogView
from qserv.catalog import TableSpec

if TYPE_CHECKING:   # near_neighbour imports this module
    from czar.analysis.near_neighbour import NeighbourJoin


@dataclass
class TableRef:
    """A table named in FROM/JOIN, resolved against the catalog."""

    node: exp.Table
    db: str
    spec: TableSpec

    @property
    def qualifier(self) -> str:
        """The name columns use to refer to this table (its alias, else its name)."""
        return self.node.alias or self.node.name

    @property
    def partitioned(self) -> bool:
        return self.spec.partitioned


@dataclass
class QueryContext:
    select: exp.Select
    default_db: str | None
    catalog: CatalogView
    output_names: list[str] = field(default_factory=list)  # as one MariaDB names the columns
    tables: list[TableRef] = field(default_factory=list)
    database: str | None = None        # database of the partitioned tables (workers USE it)
    is_aggregate: bool = False
    group_keys: list[exp.Expr] = field(default_factory=list)
    # Chunk pruning: None = all chunks of the database; else only these (intersection of every
    # restriction a pass found: a spatial region, director-index look-ups, ...).
    chunk_restriction: set[int] | None = None
    pruned_by: list[str] = field(default_factory=list)  # human-readable reasons, for EXPLAIN
    index_lookups: list = field(default_factory=list)   # director_index.IndexLookup, run by the engine
    neighbour_join: NeighbourJoin | None = None
    # Why the whole query must run on the czar over the chunks' rows (an aggregate without a
    # per-chunk part such as GROUP_CONCAT, a window across chunks); '' when it need not.
    on_czar: str = ""

    def restrict_chunks(self, chunks, reason: str) -> None:
        """Narrow the chunks to visit; passes call this, the planner applies it."""
        chunks = set(chunks)
        self.chunk_restriction = chunks if self.chunk_restriction is None \
            else self.chunk_restriction & chunks
        self.pruned_by.append(reason)

    @property
    def partitioned_tables(self) -> list[TableRef]:
        return [t for t in self.tables if t.partitioned]

    def table_for_column(self, column: exp.Column) -> TableRef | None:
        """The FROM table a column belongs to (by qualifier, else by unique column name)."""
        if column.table:
            for t in self.tables:
                if t.qualifier.lower() == column.table.lower():
                    return t
            return None
        owners = [t for t in self.tables
                  if column.name.lower() in (c.lower() for c in t.spec.column_names)]
        return owners[0] if len(owners) == 1 else None

    def is_table_column(self, name: str) -> bool:
        return any(name.lower() in (c.lower() for c in t.spec.column_names) for t in self.tables)


def conjuncts(cond: exp.Expr | None) -> list[exp.Expr]:
    """The terms ANDed at the top of a condition (WHERE/ON), through parentheses: only these
    constrain every row (a term under OR, XOR, NOT, IF or CASE does not)."""
    if cond is None:
        return []
    while isinstance(cond, (exp.Paren, exp.Where)):
        cond = cond.this
    if isinstance(cond, exp.And):
        return conjuncts(cond.left) + conjuncts(cond.right)
    return [cond]
