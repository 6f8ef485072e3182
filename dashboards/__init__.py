"""Dashboards as code: Grafana dashboards and the Prometheus live page, from gameday/panels.py."""
