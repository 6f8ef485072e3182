"""A Toxiproxy-compatible TCP fault proxy (standard library only).

The lab's kernel has no ``netem``, so the API reaches PostgreSQL and Redis
through this proxy, which injects latency, stalls, resets, bandwidth limits,
slow closes and data limits. It speaks Toxiproxy's HTTP API (same paths,
shapes and status codes), so a real Toxiproxy server or the
chaostoolkit-toxiproxy extension can stand in for it.

Run (the package's directory on ``PYTHONPATH``)::

    python3 -m faultproxy --listen 127.0.0.1:8474 --config /etc/coffee-chaos/faultproxy.json

The config uses Toxiproxy's "populate" format: a JSON list of
``{"name", "listen", "upstream", "enabled"}``. Every listen address must be a
loopback address. One difference from Toxiproxy: a ``timeout`` toxic holds
data instead of dropping it, and removing the toxic delivers what was held.
"""
