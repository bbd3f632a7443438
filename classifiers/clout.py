"""Author clout: how much reach a post has, 0-100, log-scaled so a million followers is not 1000x a thousand.

Monotone non-decreasing in every input: more followers, more engagement, a verified badge or posting more
often about the brand never lowers clout.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["CLOUT_WEIGHTS", "clout_reasons", "clout_scores"]

# Weights sum to 100. Followers dominate reach; engagement says the post itself is travelling.
CLOUT_WEIGHTS = {"followers": 55.0, "engagement": 25.0, "verified": 10.0, "frequency": 10.0}
_FOLLOWERS_SAT = np.log10(1 + 10_000_000)  # 10M followers saturate the follower term
_ENGAGEMENT_SAT = np.log10(1 + 100_000)  # 100k likes+reposts+replies+quotes saturate engagement
_FREQUENCY_SAT = np.log10(1 + 50)  # 50 brand posts a day saturates frequency


def _log_term(x: npt.ArrayLike, saturation: float) -> npt.NDArray[np.float64]:
    arr = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    return np.minimum(np.log10(1.0 + arr) / saturation, 1.0)


def clout_scores(
    followers: npt.ArrayLike,
    verified: npt.ArrayLike,
    engagement: npt.ArrayLike,
    brand_posts_per_day: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """Vectorised clout in [0, 100] for a batch of authors."""
    w = CLOUT_WEIGHTS
    score = (
        w["followers"] * _log_term(followers, _FOLLOWERS_SAT)
        + w["engagement"] * _log_term(engagement, _ENGAGEMENT_SAT)
        + w["verified"] * np.asarray(verified, dtype=np.float64).clip(0, 1)
        + w["frequency"] * _log_term(brand_posts_per_day, _FREQUENCY_SAT)
    )
    return np.round(score, 1)


def clout_reasons(followers: int, verified: bool, engagement: int, brand_posts_per_day: float) -> list[str]:
    """The inputs that made a clout score, for the ticket's explanation."""
    reasons = [f"followers={followers}"]
    if verified:
        reasons.append("verified")
    if engagement:
        reasons.append(f"engagement={engagement}")
    if brand_posts_per_day >= 1:
        reasons.append(f"brand_posts_per_day={brand_posts_per_day:g}")
    return reasons
