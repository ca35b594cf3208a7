"""The czar's ingest controller, one module per concern (DESIGN §7): `schema` (its tables,
errors, names), `states` (the transaction and contribution state machine: one table, one
pure `transition()`), `databases`, `transactions`, `contributions` (+ `bundle`),
`director_index`, `publish`, `validate`; `controller` composes them. `czar/http.py` serves
it over HTTP (`/ingest/...`); the client is `qserv/admin/ingest_client.py`."""

from czar.ingest.controller import IngestController
from czar.ingest.schema import IngestError

__all__ = ["IngestController", "IngestError"]
