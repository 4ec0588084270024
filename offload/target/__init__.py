"""Targets as the harness knows them: manifests, the knobs of the reference designs, the
contract a target must honour and ``offload verify``, which checks it."""
