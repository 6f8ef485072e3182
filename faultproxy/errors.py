"""The control API's errors: an HTTP status and a message naming the problem."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the control API reports as ``{"error": ..., "status": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}
