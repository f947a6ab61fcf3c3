"""Study-level steps that are not a command of their own: `trials_where` (keep some rating rows)."""

from __future__ import annotations

import pandas as pd
import pytest

from psychoface.data.ratings import Ratings
from psychoface.errors import PsychofaceError
from psychoface.workflows import select_trials


def _ratings() -> Ratings:
    trials = pd.DataFrame({
        "stimulus": ["1", "1", "1", "2", "2", "2"],
        "attribute": ["trust"] * 6,
        "rating": [10.0, 20.0, 90.0, 30.0, 40.0, 0.0],
        "rating_type": ["normal", "normal", "repeat", "normal", "normal", "repeat"],
    })
    means = trials.groupby(["stimulus", "attribute"])["rating"].mean().unstack()
    return Ratings(means, trials)


def test_select_trials_keeps_the_rows_and_recomputes_the_means():
    kept = select_trials(_ratings(), "rating_type != 'repeat'")
    assert list(kept.trials["rating"]) == [10.0, 20.0, 30.0, 40.0]
    assert kept.means.loc["1", "trust"] == 15.0 and kept.means.loc["2", "trust"] == 35.0
    assert _ratings().means.loc["1", "trust"] == 40.0  # all rows, for contrast


@pytest.mark.parametrize("where, named", [
    ("kind == 'x'", "columns: stimulus, attribute, rating, rating_type"),
    ("rating_type != 'repeat' and", "cannot be evaluated"),
    ("rating + 1", "true/false"),
    ("rating > 1000", "keeps none"),
])
def test_select_trials_bad_condition_one_line(where, named):
    with pytest.raises(PsychofaceError) as info:
        select_trials(_ratings(), where)
    assert named in str(info.value) and "\n" not in str(info.value)


def test_select_trials_needs_trial_level_ratings():
    ratings = _ratings()
    with pytest.raises(PsychofaceError, match="mean ratings"):
        select_trials(Ratings(ratings.means), "rating > 1")
