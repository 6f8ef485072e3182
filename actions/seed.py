"""Chaos Toolkit actions: seed the orders table with historical orders, and remove them.

    {"type": "action", "name": "seed-orders", "provider": {"type": "python",
     "module": "actions.seed", "func": "seed_orders", "arguments": {"rows": 1000000}}}

Seeding is recorded in the fault ledger (kind ``seed``), so the safety control
and ``gameday recover`` remove the rows if the run ends without its rollback.
The schema is the configuration's ``postgres_schema`` (see ``gameday.target``).
"""

from __future__ import annotations

import logging
from typing import Any

from chaoslib.types import Configuration, Secrets

from controls.adapter import engine_call
from controls.marks import marks_faults
from gameday import seed

__all__ = ["remove_seeded_orders", "seed_orders"]
logger = logging.getLogger("chaostoolkit")


@marks_faults
def seed_orders(
    rows: int = 1_000_000,
    name: str = "default",
    days: int = 30,
    analyze: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """COPY ``rows`` orders spread over the last ``days`` days into the orders table;
    a rerun with the same ``name`` changes nothing. Returns the id range and timings."""
    with engine_call("seed orders", configuration) as target:
        result = seed.seed(
            target,
            rows=rows,
            name=name,
            days=days,
            schema=target.postgres_schema,
            analyze=analyze,
            secrets=secrets,
        )
    logger.info(
        "seed %r: %s",
        name,
        f"{rows} rows in {result['copy_s']} s" if result["changed"] else result["note"],
    )
    return result


@marks_faults
def remove_seeded_orders(
    name: str = "default",
    vacuum: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Delete exactly the rows of seed ``name`` (then VACUUM the table); nothing to do is fine."""
    with engine_call(f"remove seeded orders {name!r}", configuration) as target:
        result = seed.remove(target, name, vacuum=vacuum, secrets=secrets)
    logger.info("seed %r: %d rows removed", name, result["removed"])
    return result
