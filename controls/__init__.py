"""The Chaos Toolkit side of the engine, what speaks chaoslib so that ``gameday`` need not:
the safety control every experiment declares (``controls.safety``), the adapter every
action and probe goes through (``controls.adapter``), and what probes hand to the verdict
(``controls.evidence``)."""
