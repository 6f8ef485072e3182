"""The reference café: the coffee ordering system that Coffee Chaos tests by default."""
