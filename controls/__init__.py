"""The Chaos Toolkit side of the engine: the safety control every experiment declares
(``controls.safety``) and what probes hand to it (``controls.evidence``)."""
