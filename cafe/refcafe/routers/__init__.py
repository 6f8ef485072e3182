"""One router per concern: orders, dashboard, websocket, health, metrics."""
