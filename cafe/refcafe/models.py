"""The order body: the contract's drinks, stores, a price in dollars and a UTC time."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DRINKS = ("cappuccino", "americano", "latte")
STORES = ("uptown", "downtown", "central", "southend")
MAX_PRICE = 99_999_999.99  # numeric(10,2)
CENT = Decimal("0.01")

Drink = Literal["cappuccino", "americano", "latte"]
Store = Literal["uptown", "downtown", "central", "southend"]


class OrderIn(BaseModel):
    """A POSTed order; strict, so a string price or a numeric drink is refused."""

    model_config = ConfigDict(strict=True, frozen=True)

    drink: Drink
    store: Store
    price: Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]
    timestamp: datetime

    def price_cents(self) -> Decimal:
        """The price rounded to cents, as stored in numeric(10,2)."""
        return Decimal(repr(self.price)).quantize(CENT)

    def timestamp_utc(self) -> datetime:
        """The timestamp as a naive UTC value (the column has no time zone)."""
        if self.timestamp.tzinfo is None:
            return self.timestamp
        return self.timestamp.astimezone(UTC).replace(tzinfo=None)


class RawOrderIn(OrderIn):
    """The raw-order-labels flaw: any drink and store string (still strictly a string)."""

    drink: str  # type: ignore[assignment]
    store: str  # type: ignore[assignment]
