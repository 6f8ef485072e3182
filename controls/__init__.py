"""Where Chaos Toolkit meets the engine: the adapter helper of every action and probe."""
