"""Errors the fault engine raises; each message names the target and what to do."""

from __future__ import annotations


class GamedayError(Exception):
    """A fault could not be injected, inspected or reverted."""


class LedgerError(GamedayError):
    """The fault ledger is unreadable, or some of its faults could not be reverted."""


class ServiceError(GamedayError):
    """A service could not be inspected, killed, stopped or started."""


class NetFaultError(GamedayError):
    """A network fault could not be injected, listed or removed."""


class LoadError(GamedayError):
    """The load could not be started or stopped, or its inputs are wrong."""


class KubernetesError(ServiceError):
    """The Kubernetes API refused or failed a read or a change of a service's workload."""
