"""The "Completion and receptive fields" page, driven through AppTest on the demo store."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore

from page_helpers import assert_clean, charts, texts

PAGE = "completion"


def ar_image_models() -> list[str]:
    """Whatever autoregressive image models are registered now (the page must show each)."""
    from genzoo.registry.autoregressive import AutoregressiveImageModel

    return [name for name, spec in get_registry().models.items()
            if spec.data == "image" and issubclass(spec.model_class, AutoregressiveImageModel)]


def heatmap(figure: dict) -> np.ndarray:
    """The z values of a figure's heatmap trace (a list, or a typed array with a shape)."""
    z = next(t for t in figure["data"] if t["type"] == "heatmap")["z"]
    if isinstance(z, dict) and "bdata" in z:
        values = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        shape = z.get("shape")
        if isinstance(shape, str):
            shape = [int(s) for s in shape.split(",")]
        return values.reshape(shape)
    return np.array(z, dtype=float)


def assert_heatmaps(at, row: int, col: int, size: int) -> None:
    figures = charts(at)
    assert [f["layout"]["title"]["text"] for f in figures] == ar_image_models()
    for figure in figures:
        assert figure["layout"]["xaxis"]["title"]["text"] == "column"
        assert figure["layout"]["yaxis"]["title"]["text"] == "row"
        marker = next(t for t in figure["data"] if t["type"] == "scatter")
        assert (marker["x"], marker["y"]) == ([col], [row])  # the target pixel is marked
        z = heatmap(figure)
        assert z.shape == (size, size)
        flat = z.reshape(-1)
        # the target pixel and every later one have no influence (blank), some earlier do
        assert np.isnan(flat[row * size + col:]).all()
        assert np.isfinite(flat[:row * size + col]).any()


def test_completion_and_a_heatmap_per_model(app, demo_store):
    at = app(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Completion and receptive fields"
    pixelcnn = next(r for r in RunStore(demo_store).list_runs(status="completed")
                    if r.model == "pixelcnn" and r.dataset == "digits")
    assert at.selectbox[0].value.run_id == pixelcnn.run_id  # the demo's AR image run
    assert [h.value for h in at.subheader] == ["masked", "completed (4 samples)", "original"]
    assert len(at.image) == 3
    caption = texts(at.caption)
    assert "32 of 64 pixels hidden" in caption and "known pixels kept: yes" in caption
    assert "blind spot" in texts(at.markdown)
    assert_heatmaps(at, 8, 8, 16)  # shapes, 16x16, centre pixel
    assert "none of the later ones" in caption

    at.selectbox[1].set_value("center").run()  # mask
    at.number_input[2].set_value(2).run()  # samples
    assert_clean(at)
    assert "16 of 64 pixels hidden" in texts(at.caption)
    assert [h.value for h in at.subheader][1] == "completed (2 samples)"


def test_receptive_field_target_dataset_and_trained_weights(app, demo_store):
    at = app(PAGE)
    at.selectbox[2].set_value("digits").run()  # image shape of
    at.slider[0].set_value(5).run()  # row
    at.slider[1].set_value(2).run()  # column
    assert_clean(at)
    assert_heatmaps(at, 5, 2, 8)
    assert "untrained, default config" in texts(at.caption)
    at.toggle[0].set_value(True).run()  # the demo's trained pixelcnn
    assert_clean(at)
    assert "run pixelcnn-digits" in texts(at.caption)


def test_pixelcnn_field_has_the_blind_spot(demo_store):
    from genzoo.dashboard import completion_data

    rf = completion_data.receptive_field("pixelcnn", "shapes", 8, 8)
    field = rf["field"]
    assert field.shape == (16, 16) and rf["later"] == 0
    assert field[7, 7] > 0 and field[8, 7] > 0  # just above, just left
    assert field[7, 15] == 0  # up and to the right, far: the blind spot
    assert rf["unseen"] > 0 and rf["earlier"] == 8 * 16 + 8


def test_empty_store_still_shows_receptive_fields(app, empty_store):
    at = app(PAGE)
    assert_clean(at)
    assert "No completed runs of autoregressive image models" in texts(at.info)
    assert "genzoo demo" in [code.value for code in at.code]
    assert len(at.image) == 0
    assert_heatmaps(at, 8, 8, 16)


@pytest.mark.parametrize("mask", ["top-half", "random:0.5"])
def test_completion_function_keeps_known_pixels(demo_store, mask):
    from genzoo.dashboard import completion_data

    record = next(r for r in RunStore(demo_store).list_runs(status="completed")
                  if r.model == "pixelcnn" and r.dataset == "digits")
    done = completion_data.completion(record, mask, 0, 3, 2)
    assert done["kept"] and done["masked"].ndim == 3  # RGB: hidden pixels in a colour
    masked, *completions, original = np.load(io.BytesIO(done["npy"]))
    assert len(completions) == 2 and (masked == -1).sum() == done["hidden"]
    assert all(np.array_equal(c[masked >= 0], original[masked >= 0]) for c in completions)
