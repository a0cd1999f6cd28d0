"""A user's own image datasets from files: folders of images, .npy/.npz, MNIST idx, CIFAR-10
binary. Every input is generated here; every bad input must fail in one line naming its file."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.registry.errors import BadConfig, BadData, NotFound
from genzoo.registry.imagefiles import (
    IMAGE_OPTIONS,
    dataset_identity,
    display_name,
    load_image_files,
    looks_like_image_files,
)


def names(path: Path) -> str:
    """A pattern matching the path in a message (regex characters escaped)."""
    return re.escape(str(path))


def grey_images(n: int, side: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side), dtype=np.uint8)


def save_pngs(folder: Path, images: np.ndarray, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{prefix}{k:03d}.png" for k in range(len(images))]
    for path, image in zip(paths, images):
        Image.fromarray(image).save(path)
    return paths


def idx_bytes(images: np.ndarray) -> bytes:
    n, rows, cols = images.shape
    return np.array([0x803, n, rows, cols], dtype=">i4").tobytes() + images.tobytes()


def idx_label_bytes(labels: np.ndarray) -> bytes:
    return np.array([0x801, len(labels)], dtype=">i4").tobytes() + labels.astype(np.uint8).tobytes()


def write_idx(folder: Path, prefix: str, images, labels=None, gz=False) -> Path:
    """``{prefix}-images-idx3-ubyte`` (and labels beside it), gzipped when ``gz``."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    pack = gzip.compress if gz else bytes
    path = folder / f"{prefix}-images-idx3-ubyte{suffix}"
    path.write_bytes(pack(idx_bytes(images)))
    if labels is not None:
        (folder / f"{prefix}-labels-idx1-ubyte{suffix}").write_bytes(pack(idx_label_bytes(labels)))
    return path


def cifar_records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    return records.tobytes(), images, labels


class WritesMarker:
    """A pickle that, when unpickled, creates the file ``marker``: proof of unpickling."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


# -- folders of images -----------------------------------------------------------------------

def test_a_flat_folder_of_greyscale_pngs_is_unlabelled_256_levels_split_80_20(tmp_path):
    images = grey_images(10)
    save_pngs(tmp_path / "faces", images)
    data = load_image_files(tmp_path / "faces")
    assert data.train.dtype == torch.int64 and data.train.shape == (8, 1, 6, 6)
    assert data.test.shape == (2, 1, 6, 6) and data.levels == 256
    assert data.train_labels is None and data.val is None and data.name == "faces"
    loaded = {bytes(x.numpy().astype(np.uint8)) for x in torch.cat([data.train, data.test])}
    assert loaded == {bytes(image) for image in images}
    assert "seeded 80/20 split (seed 0)" in data.source and "10 images" in data.source


def test_class_subfolders_give_sorted_labels_nested_files_and_ignore_top_level_files(tmp_path):
    root = tmp_path / "pets"
    save_pngs(root / "dog", np.full((4, 5, 5), 200, dtype=np.uint8))
    save_pngs(root / "cat", np.full((3, 5, 5), 10, dtype=np.uint8))
    save_pngs(root / "cat" / "more", np.full((2, 5, 5), 10, dtype=np.uint8))
    (root / "notes.txt").write_text("top-level files are ignored when there are classes")
    (root / "dog" / ".DS_Store").write_bytes(b"\0junk")  # hidden: skipped
    data = load_image_files(root)
    labels = torch.cat([data.train_labels, data.test_labels])
    images = torch.cat([data.train, data.test])
    assert sorted(labels.tolist()) == [0] * 5 + [1] * 4  # cat (5 images) is 0, dog is 1
    assert bool((images[labels == 0] == 10).all()) and bool((images[labels == 1] == 200).all())
    assert set(data.test_labels.tolist()) == {0, 1}  # stratified: both classes held out
    assert "stratified by label" in data.source


def test_colour_images_give_3_channels_and_channels_1_is_pillows_luminance(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    paths = save_pngs(tmp_path / "colour", rgb)
    data = load_image_files(tmp_path / "colour", seed=3)
    assert data.train.shape[1:] == (3, 4, 4)
    grey = load_image_files(tmp_path / "colour", channels="1", seed=3)
    expected = {bytes(np.asarray(Image.open(p).convert("L"))) for p in paths}
    loaded = {bytes(x[0].numpy().astype(np.uint8)) for x in torch.cat([grey.train, grey.test])}
    assert grey.train.shape[1] == 1 and loaded == expected


def test_channels_3_repeats_grey_and_greyscale_gifs_count_as_grey(tmp_path):
    folder = tmp_path / "gifs"
    folder.mkdir()
    for k, image in enumerate(grey_images(4, seed=2)):
        Image.fromarray(image).save(folder / f"{k}.gif")
    assert load_image_files(folder).train.shape[1] == 1
    rgb = load_image_files(folder, channels=3)
    assert rgb.train.shape[1] == 3 and torch.equal(rgb.train[:, 0], rgb.train[:, 2])


def test_bilevel_images_have_2_levels_and_16_bit_images_are_scaled_to_8_bits(tmp_path):
    bits = np.random.default_rng(0).random((4, 6, 6)) > 0.5
    save_pngs(tmp_path / "bits", bits)
    data = load_image_files(tmp_path / "bits")
    assert data.levels == 2 and set(torch.cat([data.train, data.test]).unique().tolist()) == {0, 1}
    wide = np.array([[[0, 257, 65535, 40000]]] * 2, dtype=np.uint16)
    save_pngs(tmp_path / "wide", wide)
    data = load_image_files(tmp_path / "wide")
    assert data.levels == 256 and data.train[0, 0, 0].tolist() == [0, 1, 255, 40000 // 257]


def test_jpeg_and_bmp_load_beside_png(tmp_path):
    folder = tmp_path / "mixed"
    images = grey_images(3, side=8)
    save_pngs(folder, images[:1])
    Image.fromarray(images[1]).save(folder / "b.jpg")
    Image.fromarray(images[2]).save(folder / "c.bmp")
    data = load_image_files(folder)
    assert len(data.train) + len(data.test) == 3 and data.train.shape[1:] == (1, 8, 8)


def test_mixed_sizes_fail_naming_the_file_and_size_resizes_them(tmp_path):
    folder = tmp_path / "sizes"
    save_pngs(folder, grey_images(3, side=6))
    odd = folder / "z_odd.png"
    Image.fromarray(grey_images(1, side=9)[0]).save(odd)
    with pytest.raises(BadData, match=names(odd) + r" is 9x9 .*--set size=S"):
        load_image_files(folder)
    data = load_image_files(folder, size="4")
    assert data.train.shape[1:] == (1, 4, 4) and len(data.train) + len(data.test) == 4


def test_levels_2_thresholds_at_128_like_mnist_binary(tmp_path):
    image = np.array([[0, 127, 128, 255]] * 4, dtype=np.uint8)
    save_pngs(tmp_path / "ramp", np.stack([image, image]))
    data = load_image_files(tmp_path / "ramp", levels=2)
    assert data.levels == 2 and data.train[0, 0, 0].tolist() == [0, 0, 1, 1]
    assert load_image_files(tmp_path / "ramp", levels=4).train[0, 0, 0].tolist() == [0, 1, 2, 3]


def test_the_split_is_fixed_by_the_seed(tmp_path):
    save_pngs(tmp_path / "s", grey_images(20))
    first, again = load_image_files(tmp_path / "s"), load_image_files(tmp_path / "s")
    other = load_image_files(tmp_path / "s", seed=1)
    assert torch.equal(first.test, again.test) and not torch.equal(first.test, other.test)


@pytest.mark.parametrize("layout", ["empty", "empty-class", "only-hidden"])
def test_a_folder_without_images_fails_naming_it(tmp_path, layout):
    folder = tmp_path / "nothing"
    folder.mkdir()
    culprit = folder
    if layout == "empty-class":
        save_pngs(folder / "a", grey_images(2))
        culprit = folder / "b"
        culprit.mkdir()
    elif layout == "only-hidden":
        (folder / ".hidden.png").write_bytes(b"")
    with pytest.raises(BadData, match=names(culprit) + " holds no images"):
        load_image_files(folder)


def test_a_non_image_file_in_the_folder_fails_naming_it(tmp_path):
    save_pngs(tmp_path / "f", grey_images(3))
    notes = tmp_path / "f" / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(BadData, match=names(notes) + r" is not an image .*move it out"):
        load_image_files(tmp_path / "f")


def test_a_truncated_png_fails_naming_it(tmp_path):
    paths = save_pngs(tmp_path / "t", grey_images(3, side=16))
    whole = paths[1].read_bytes()
    paths[1].write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadData, match=names(paths[1]) + " is not a readable image"):
        load_image_files(tmp_path / "t")


def test_a_missing_path_is_not_found(tmp_path):
    with pytest.raises(NotFound, match=names(tmp_path / "nope")):
        load_image_files(tmp_path / "nope")


# -- .npy / .npz -----------------------------------------------------------------------------

@pytest.mark.parametrize(("shape", "channels"), [((5, 4, 4), 1), ((5, 4, 4, 1), 1),
                                                 ((5, 4, 4, 3), 3), ((5, 4, 4, 4), 3),
                                                 ((5, 3, 4, 4), 3), ((5, 1, 4, 4), 1),
                                                 ((5, 3, 6, 5), 3)])
def test_npy_layouts_give_nchw(tmp_path, shape, channels):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    np.save(tmp_path / "a.npy", array)
    data = load_image_files(tmp_path / "a.npy")
    assert data.train.shape[1] == channels and data.levels == 256 and data.name == "a.npy"
    expected_hw = (6, 5) if shape == (5, 3, 6, 5) else (4, 4)
    assert tuple(data.train.shape[2:]) == expected_hw


def test_channel_last_values_land_in_the_right_channel_and_alpha_is_dropped(tmp_path):
    array = np.zeros((2, 3, 3, 4), dtype=np.uint8)
    array[..., 0], array[..., 1], array[..., 2], array[..., 3] = 10, 20, 30, 99
    np.save(tmp_path / "rgba.npy", array)
    data = load_image_files(tmp_path / "rgba.npy")
    assert data.train[0, :, 0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize(("high", "levels"), [(1, 2), (16, 256), (255, 256), (1000, 1001)])
def test_integer_arrays_default_levels(tmp_path, high, levels):
    array = np.zeros((4, 3, 3), dtype=np.int32)
    array[0, 0, 0] = high
    np.save(tmp_path / "i.npy", array)
    assert load_image_files(tmp_path / "i.npy").levels == levels


def test_levels_declares_values_that_fit_and_quantizes_values_that_do_not(tmp_path):
    np.save(tmp_path / "d.npy", (np.arange(2 * 5 * 5) % 17).reshape(2, 5, 5).astype(np.uint8))
    declared = load_image_files(tmp_path / "d.npy", levels=17)
    assert declared.levels == 17 and int(torch.cat([declared.train, declared.test]).max()) == 16
    np.save(tmp_path / "q.npy", np.array([[[0, 127, 128, 255]]] * 2, dtype=np.uint8))
    assert load_image_files(tmp_path / "q.npy", levels=2).train[0, 0, 0].tolist() == [0, 0, 1, 1]


def test_float_arrays_need_levels_and_values_in_0_1(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.array([[[0.0, 0.3, 0.5, 1.0]]] * 2, dtype=np.float32))
    with pytest.raises(BadData, match=names(path) + r".*floats.*--set levels=L"):
        load_image_files(path)
    assert load_image_files(path, levels=4).train[0, 0, 0].tolist() == [0, 1, 2, 3]
    np.save(path, np.array([[[0.0, 2.0]]] * 2))
    with pytest.raises(BadData, match=names(path) + r".*not in \[0, 1\]"):
        load_image_files(path, levels=4)


@pytest.mark.parametrize(("shape", "message"), [((10, 4), "has shape \\(10, 4\\); images must"),
                                                ((2, 3, 3, 3), "could both be its channels"),
                                                ((2, 3, 6, 4), "could both be its channels"),
                                                ((2, 5, 6, 7), "neither axis 1"),
                                                ((2, 1, 1, 4, 4), "has shape")])
def test_bad_array_shapes_fail_naming_the_file_and_shape(tmp_path, shape, message):
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros(shape, dtype=np.uint8))
    with pytest.raises(BadData, match=names(path) + ".*" + message):
        load_image_files(path)


def test_negative_values_and_non_numeric_dtypes_fail(tmp_path):
    path = tmp_path / "n.npy"
    np.save(path, -np.ones((2, 3, 3), dtype=np.int8))
    with pytest.raises(BadData, match=names(path) + ".*negative"):
        load_image_files(path)
    np.save(path, np.full((2, 3, 3), "a"))
    with pytest.raises(BadData, match=names(path) + ".*dtype <U1"):
        load_image_files(path)


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "o.npy"
    np.save(path, np.array([WritesMarker(marker), 1], dtype=object), allow_pickle=True)
    with pytest.raises(BadData, match=names(path) + ": the array is an object array.*never "
                       "unpickles"):
        load_image_files(path)
    np.savez(tmp_path / "o.npz", x=np.array([WritesMarker(marker)], dtype=object))
    with pytest.raises(BadData, match=names(tmp_path / "o.npz") + ": array 'x' is an object "
                       "array"):
        load_image_files(tmp_path / "o.npz")
    assert not marker.exists()


def test_a_file_that_is_not_npy_fails_naming_it(tmp_path):
    path = tmp_path / "fake.npy"
    path.write_bytes(b"not numpy at all")
    with pytest.raises(BadData, match=names(path) + " is not a .npy file"):
        load_image_files(path)


def test_npz_default_keys_give_images_and_labels(tmp_path):
    x = grey_images(10)
    y = np.arange(10) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y, other=np.zeros(3))
    data = load_image_files(tmp_path / "d.npz")
    assert data.train.shape == (8, 1, 6, 6) and sorted(data.test_labels.tolist()) == [0, 1]
    for images, labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        for image, label in zip(images, labels):
            k = next(k for k in range(10) if np.array_equal(x[k], image[0].numpy()))
            assert y[k] == label


def test_npz_in_keras_layout_keeps_its_own_test_split(tmp_path):
    np.savez_compressed(tmp_path / "mnist.npz", x_train=grey_images(6), y_train=np.arange(6),
                        x_test=grey_images(3, seed=9), y_test=np.arange(3))
    data = load_image_files(tmp_path / "mnist.npz")
    assert len(data.train) == 6 and len(data.test) == 3 and data.name == "mnist.npz"
    assert data.test_labels.tolist() == [0, 1, 2] and "x_test" in data.source
    assert np.array_equal(data.test[:, 0].numpy(), grey_images(3, seed=9))


def test_npz_named_keys_and_their_errors(tmp_path):
    path = tmp_path / "k.npz"
    np.savez(path, pics=grey_images(5), classes=np.arange(5), short=np.arange(4),
             floaty=np.arange(5.0))
    data = load_image_files(path, images="pics", labels="classes")
    assert len(data.train) + len(data.test) == 5 and data.train_labels is not None
    with pytest.raises(BadConfig, match=names(path) + r" has no array 'nope'; its arrays: "):
        load_image_files(path, images="nope")
    with pytest.raises(BadData, match=names(path) + r": 4 labels in 'short' but 5 images"):
        load_image_files(path, images="pics", labels="short")
    with pytest.raises(BadData, match=names(path) + ".*must be integers"):
        load_image_files(path, images="pics", labels="floaty")
    with pytest.raises(BadData, match=names(path) + " has none of the arrays"):
        load_image_files(path)


# -- MNIST idx -------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_train_file_with_t10k_beside_it_is_the_test_split(tmp_path, gz):
    train, test = grey_images(7, side=5), grey_images(3, side=5, seed=4)
    path = write_idx(tmp_path, "train", train, np.arange(7) % 3, gz=gz)
    write_idx(tmp_path, "t10k", test, np.array([2, 1, 0]), gz=gz)
    data = load_image_files(path)
    assert np.array_equal(data.train[:, 0].numpy(), train) and data.train.shape == (7, 1, 5, 5)
    assert np.array_equal(data.test[:, 0].numpy(), test) and data.test_labels.tolist() == [2, 1, 0]
    assert data.train_labels.tolist() == [0, 1, 2, 0, 1, 2, 0] and data.levels == 256
    assert data.name == path.name and "t10k" in data.source
    from_folder = load_image_files(tmp_path)
    assert torch.equal(from_folder.train, data.train) and from_folder.name == tmp_path.name


def test_idx_file_alone_or_t10k_alone_gets_the_seeded_split(tmp_path):
    path = write_idx(tmp_path / "a", "train", grey_images(10), np.arange(10) % 2)
    data = load_image_files(path)
    assert (len(data.train), len(data.test)) == (8, 2) and "seeded" in data.source
    t10k = write_idx(tmp_path / "b", "t10k", grey_images(10))
    assert len(load_image_files(t10k).test) == 2
    assert load_image_files(t10k).train_labels is None


def test_idx_bad_magic_truncation_and_label_count_fail_naming_the_file(tmp_path):
    path = write_idx(tmp_path, "train", grey_images(4), np.arange(4))
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(idx_label_bytes(np.arange(3)))
    with pytest.raises(BadData, match=names(labels) + " has 3 labels but .* has 4 images"):
        load_image_files(path)
    labels.unlink()
    whole = path.read_bytes()
    path.write_bytes(whole[:-5])
    with pytest.raises(BadData, match=names(path) + " is truncated"):
        load_image_files(path)
    path.write_bytes(b"\0\0\x08\x01" + whole[4:])
    with pytest.raises(BadData, match=names(path) + " is not an idx images .*magic number"):
        load_image_files(path)


# -- CIFAR-10 --------------------------------------------------------------------------------

def test_cifar_binary_folder_reads_data_batches_in_order_and_test_batch(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    parts = [cifar_records(n, seed) for n, seed in ((3, 1), (2, 2), (4, 3))]
    for name, (raw, _, _) in zip(["data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"],
                                 parts):
        (folder / name).write_bytes(raw)
    (folder / "batches.meta.txt").write_text("airplane\n")
    data = load_image_files(folder)
    assert data.train.shape == (5, 3, 32, 32) and data.levels == 256
    assert np.array_equal(data.train.numpy(), np.concatenate([parts[0][1], parts[1][1]]))
    assert np.array_equal(data.test.numpy(), parts[2][1]) and data.test_labels.tolist() == [
        0, 1, 2, 3]
    grey = load_image_files(folder, channels=1)
    pillow = [np.asarray(Image.fromarray(x.transpose(1, 2, 0)).convert("L")) for x in parts[2][1]]
    assert np.array_equal(grey.test[:, 0].numpy(), np.stack(pillow))


def test_a_single_cifar_bin_file_gets_the_seeded_split_and_bad_lengths_fail(tmp_path):
    path = tmp_path / "batch.bin"
    path.write_bytes(cifar_records(10, 0)[0])
    data = load_image_files(path)
    assert (len(data.train), len(data.test)) == (8, 2) and data.train_labels is not None
    path.write_bytes(cifar_records(2, 0)[0][:-1])
    with pytest.raises(BadData, match=names(path) + r" is 6,145 bytes, not a whole number"):
        load_image_files(path)


def test_pickled_cifar_and_pkl_files_are_refused_unread(tmp_path):
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(WritesMarker(control)))
    assert control.exists()  # the trap is live: unpickling would create the marker
    marker = tmp_path / "marker"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps(WritesMarker(marker)))
    (folder / "batches.meta").write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(BadData, match=names(folder / "batches.meta") + " is pickled.*"
                       "never unpickles.*cifar-10-binary.tar.gz"):
        load_image_files(folder)
    pkl = tmp_path / "data.pkl"
    pkl.write_bytes(pickle.dumps(WritesMarker(marker)))
    with pytest.raises(BadData, match=names(pkl) + " is pickled"):
        load_image_files(pkl)
    with pytest.raises(BadData, match=names(pkl) + " is pickled"):
        dataset_identity(pkl)
    assert not marker.exists()


# -- options, identity, names ----------------------------------------------------------------

@pytest.mark.parametrize(("options", "message"), [
    ({"size": 0}, "option size=0 .*whole number >= 1"),
    ({"size": "big"}, "option size='big'"),
    ({"channels": 2}, "option channels=2 .*1 \\(greyscale\\) or 3"),
    ({"channels": "0"}, "option channels='0'"),
    ({"levels": 1}, "option levels=1 .*>= 2"),
    ({"levels": "300"}, "option levels=300 .*have 256 levels"),
    ({"images": "x"}, "options images and labels name arrays of an .npz"),
])
def test_bad_option_values_fail_naming_the_option_and_file(tmp_path, options, message):
    save_pngs(tmp_path / "o", grey_images(3))
    with pytest.raises(BadConfig, match=message) as caught:
        load_image_files(tmp_path / "o", **options)
    assert str(tmp_path / "o") in str(caught.value) and "\n" not in str(caught.value)


def test_size_applies_to_folders_only(tmp_path):
    np.save(tmp_path / "a.npy", grey_images(3))
    with pytest.raises(BadConfig, match=names(tmp_path / "a.npy")):
        load_image_files(tmp_path / "a.npy", size=4)
    assert IMAGE_OPTIONS == ("channels", "size", "levels", "images", "labels")


def test_identity_follows_the_content_and_nothing_else(tmp_path):
    folder = tmp_path / "id"
    paths = save_pngs(folder / "a", grey_images(3))
    first = dataset_identity(folder)
    assert first == dataset_identity(folder)
    assert first["format"] == "folder" and first["name"] == "id"
    assert first["path"] == str(folder.resolve())
    image = grey_images(3)[1].copy()
    image[0, 0] ^= 1
    Image.fromarray(image).save(paths[1])
    assert dataset_identity(folder)["sha256"] != first["sha256"]
    path = write_idx(tmp_path / "m", "train", grey_images(3), np.arange(3))
    idx = dataset_identity(path)
    assert idx["format"] == "idx" and idx["name"] == path.name
    (tmp_path / "m" / "train-labels-idx1-ubyte").write_bytes(idx_label_bytes(np.arange(3)[::-1]))
    assert dataset_identity(path)["sha256"] != idx["sha256"]


def test_looks_like_image_files_tells_paths_from_registered_names(tmp_path):
    for name in ("digits", "shapes-32", "x.csv", "data/series.csv", "mnist-binary"):
        assert not looks_like_image_files(name)
    (tmp_path / "folder").mkdir()
    for name in (str(tmp_path / "folder"), "mnist.npz", "a.npy", "b.pkl", "data_batch_1.bin",
                 "train-images-idx3-ubyte.gz", "data/not-there-yet"):
        assert looks_like_image_files(name), name
    assert display_name(tmp_path / "folder") == "folder"
