"""Chaos Toolkit actions of Coffee Chaos: faults on the target's services, network and load."""
