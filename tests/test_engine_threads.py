"""The compiled engine under the services' worker threads: several long medical texts
read at the same time give each the answer it gives alone, and nothing raises."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from leakguard.detectors import HEALTH, health_data

pytestmark = pytest.mark.skipif(not health_data.COMPILED, reason="no compiled engine here")

_WORDS = (
    "Le patient est revu en consultation. Compte rendu opératoire : cholécystectomie. "
    "Arrêt de travail de quinze jours. Ordonnance : amoxicilline 1 g. Diagnostic de "
    "diabète de type 2, suivi en cardiologie. Rendez-vous pris pour mardi. "
)


def _text(seed: int) -> str:
    rng = random.Random(seed)
    filler = " ".join(rng.choice(("réunion", "dossier", "courrier", "planning")) for _ in range(40))
    # Longer than the size from which the compiled engine reads a text.
    parts = [filler] * 600 + [_WORDS] + [filler] * 600
    rng.shuffle(parts)
    return "\n".join(parts)


def test_concurrent_long_texts_each_get_their_own_answer() -> None:
    texts = [_text(seed) for seed in range(8)]
    alone = [HEALTH.categories(t) for t in texts]
    assert all(alone)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            together = list(pool.map(HEALTH.categories, texts))
            assert together == alone
