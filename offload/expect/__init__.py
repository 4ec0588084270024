"""The expectation language: relations between figures of one run, parsed, never eval'd.

Shared by the scenario schema (syntax and path checks at load time) and the gate (evaluation
over ``summary.json``)."""
