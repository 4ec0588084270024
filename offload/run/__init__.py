"""One bench, end to end: the orchestrator, one design's run, the stack of processes it
starts, their supervision, the load plan, the fault timeline, sampling, export and the
metadata that travels with the numbers."""
