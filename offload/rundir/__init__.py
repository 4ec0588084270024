"""Run directories: where ``offload bench`` writes and where report, gate and baseline read."""
