"""The experiment families; ``EXPERIMENTS`` maps every experiment file's stem to its builder."""

from . import data, failure, load

EXPERIMENTS = {**failure.EXPERIMENTS, **load.EXPERIMENTS, **data.EXPERIMENTS}
