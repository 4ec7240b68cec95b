"""What reports reads of ingest's data store, read-only, by table shape (never by import)."""

from dataclasses import dataclass

from sqlalchemy import JSON, Column, DateTime, Engine, Integer, MetaData, String, Table, select

metadata = MetaData()
datasets = Table(
    "ingest_datasets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(100)),
    Column("name", String(200)),
    Column("columns", JSON),
    Column("finished_at", DateTime(timezone=True)),
)
records = Table(
    "ingest_records",
    metadata,
    Column("dataset_id", String(36), primary_key=True),
    Column("line", Integer, primary_key=True),
    Column("data", JSON),
)
NUMERIC = frozenset({"integer", "number"})


@dataclass(frozen=True)
class Dataset:
    id: str
    tenant: str
    name: str
    fields: dict[str, str]  # name -> declared type, "string" when undeclared

    def numeric(self, field: str) -> bool:
        return self.fields.get(field) in NUMERIC


def find_dataset(engine: Engine, dataset_id: str) -> Dataset | None:
    """A finished dataset and its fields: the declared columns and those of its first row."""
    with engine.connect() as conn:
        row = conn.execute(
            select(datasets).where(datasets.c.id == dataset_id, datasets.c.finished_at.is_not(None))
        ).first()
        if row is None:
            return None
        first = conn.execute(
            select(records.c.data)
            .where(records.c.dataset_id == dataset_id)
            .order_by(records.c.line)
            .limit(1)
        ).scalar()
    fields = dict.fromkeys(first or {}, "string")
    fields |= {column["name"]: column["type"] for column in row.columns}
    return Dataset(id=row.id, tenant=row.tenant, name=row.name, fields=fields)
