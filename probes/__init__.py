"""Chaos Toolkit probes of Coffee Chaos: what the target and its faults look like now."""
