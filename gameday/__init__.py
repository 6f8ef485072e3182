"""Coffee Chaos's shared engine: target, services, faults, load, reports."""
