"""The Chaos Toolkit side of the engine: what speaks chaoslib, so ``gameday`` need not."""
