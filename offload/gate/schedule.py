"""In which order the two sides of each pair run: balanced and shuffled with a printed seed.

Running the base always first would fold any drift of the machine (a warming cache, a
neighbour starting a job) into the difference. Half the pairs run base first (AB), half
candidate first (BA), in an order shuffled by a seed the gate prints, so a run can be
repeated in the same order (``--seed``).
"""

from __future__ import annotations

import random
from typing import Final

from offload.rundir.gate_run import PairOrder

BASE_FIRST: Final = "AB"
CANDIDATE_FIRST: Final = "BA"


def pair_orders(pairs: int, seed: int) -> list[PairOrder]:
    """``pairs`` orders, as many AB as BA (one more of either when odd, by the seed)."""
    rng = random.Random(seed)
    orders: list[PairOrder] = [BASE_FIRST, CANDIDATE_FIRST] * (pairs // 2)
    if pairs % 2:
        orders.append(rng.choice((BASE_FIRST, CANDIDATE_FIRST)))
    rng.shuffle(orders)
    return orders


def new_seed() -> int:
    return random.SystemRandom().randrange(1, 1_000_000)
