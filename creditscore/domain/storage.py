"""The tables' layout: what the service, the loader, the bootstrap and Terraform's ``modules/data`` agree on.

The customers table is keyed by ``national_id`` (customers, and contact guards under reserved ``#…`` keys);
the score-history table by ``national_id`` and :data:`HISTORY_SORT_KEY` (score records, and idempotency
records and the dashboard's counts under reserved keys). Lookups by email and phone go through the two
global secondary indexes.
"""

from __future__ import annotations

from typing import Final

EMAIL_INDEX: Final = "email-index"
PHONE_INDEX: Final = "phone_number-index"
HISTORY_SORT_KEY: Final = "scored_at_request_id"
#: The score-history table's TTL attribute: only the service's idempotency records carry it (history
#: records never expire).
EXPIRES_AT: Final = "expires_at"
