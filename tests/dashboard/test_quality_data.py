"""The Quality page's data layer on data with repeated images: the memorization scores beside
the others, the real data's copy rate as their floor, a dataset without a memorized fraction
says why, and scores from before the tie-aware definitions are left out and listed to rescore."""

from __future__ import annotations

import pandas as pd

from genzoo.dashboard import quality_data as qd
from genzoo.registry.store import RunRecord

NOTE = ("100% of the test images are exact copies of training images: copying the training set "
        "cannot be told apart from generalizing by the distance to it")
FEATURES = {"quality_frechet_distance": 3.0, "quality_precision": 0.9, "quality_recall": 0.8,
            "quality_coverage": 0.99}


def record(run_id: str, model: str, metrics: dict) -> RunRecord:
    return RunRecord(run_id=run_id, model=model, dataset="shapes-8", config={}, seed=0,
                     device="cpu", status="completed", metrics=metrics, created_at=1.0)


def test_memorization_scores_and_their_floor_on_data_where_every_test_image_repeats(registry):
    scored = record("new", "independent", {
        **FEATURES, "quality_nn_ratio": 1.0, "quality_memorized_fraction": None,
        "quality_memorized_fraction_note": NOTE, "quality_copy_rate": 1.0,
        "quality_copy_rate_real": 1.0})
    # scored before copy rates existed: a NaN ratio and a memorized fraction of 0 that meant
    # nothing on shapes-8; shown blank and listed to score again
    older = record("old", "gan", {**FEATURES, "quality_nn_ratio": float("nan"),
                                  "quality_memorized_fraction": 0.0})
    frame = qd.quality_frame(registry, [scored, older], "shapes-8").set_index("model")
    assert frame.loc["independent", "copy rate"] == 1.0
    assert pd.isna(frame.loc["independent", "memorized fraction"])
    assert pd.isna(frame.loc["gan", "NN ratio"]) and pd.isna(frame.loc["gan", "memorized fraction"])
    assert frame.loc["gan", "Fréchet distance"] == 3.0  # the feature scores did not change
    assert [r.run_id for r in qd.unscored(registry, [scored, older], "shapes-8")] == ["old"]

    floor = {"frechet_distance": 0.4, "precision": 1.0, "recall": 1.0, "coverage": 1.0,
             "classes_covered": 4, "nn_ratio": 1.0, "memorized_fraction": None,
             "memorized_fraction_note": NOTE, "copy_rate": 1.0, "copy_rate_real": 1.0}
    table = qd.with_floor(frame.reset_index(), floor).set_index("model")
    assert table.loc[qd.REAL, "copy rate"] == 1.0 and table.loc[qd.REAL, "NN ratio"] == 1.0
    assert pd.isna(table.loc[qd.REAL, "memorized fraction"])
    assert qd.memorization_note(floor) == NOTE
    assert qd.memorization_note(None, [older, scored]) == NOTE  # no floor yet: a run's note
    assert qd.memorization_note({**floor, "memorized_fraction_note": None}, [older]) is None

    figure = qd.scores_figure(frame.reset_index(), floor).to_dict()
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert {"memorized fraction (lower is better)", "copy rate (near real data is better)",
            "NN ratio (near 1 is better)"} <= set(titles)
    floors = {s["y0"] for s in figure["layout"]["shapes"]}
    assert floors == {0.4, 1.0}  # dashed floors: Fréchet, the rest 1; none where it is None
