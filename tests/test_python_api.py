"""The Python API: nb.open_dataset with torchvision transforms.v2, nb.flip_labels, nb.synth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import noisebench as nb
from noisebench.errors import UserError
from noisebench.format import open_file

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from official_format_fixtures import build_tiny_image_files

    return build_tiny_image_files(tmp_path_factory.mktemp("img"), n_cifar_train=40, n_cifar_test=16,
                                  n_mnist_train=60, n_mnist_test=20)


def test_open_dataset_is_torchvision_like(images):
    from PIL import Image

    ds = nb.open_dataset(images["cifar10-psi16"], "test")
    img, target = ds[0]
    assert isinstance(img, Image.Image) and img.size == (32, 32) and img.mode == "RGB"
    assert isinstance(target, int) and ds.targets[0] == target
    assert len(ds.classes) == 10 and ds.class_to_idx[ds.classes[3]] == 3
    assert ds.data.shape == (len(ds), 32, 32, 3) and ds.data.dtype == np.uint8
    assert np.array_equal(np.asarray(img), ds.data[0])
    t, _ = nb.open_dataset(images["cifar10-psi16"], "test", as_tensor=True)[0]
    assert t.dtype == torch.uint8 and t.shape == (3, 32, 32) and torch.equal(t.permute(1, 2, 0), torch.from_numpy(ds.data[0]))
    gray, _ = nb.open_dataset(images["mnist"], "test")[0]
    assert gray.mode == "L" and gray.size == (28, 28)
    with pytest.raises(UserError, match="no split 'nope'"):
        nb.open_dataset(images["cifar10"], "nope")


def test_transforms_v2_pipeline_trains_through_open_dataset(images):
    from torchvision.transforms import v2

    tf = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), v2.ToImage(),
                     v2.ToDtype(torch.float32, scale=True)])
    ds = nb.open_dataset(images["cifar10-psi16"], "train", transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = 0
    for x, y in loader:  # two workers, each with its own lazily opened HDF5 handle
        assert x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(y)
    assert seen == len(ds) and torch.isfinite(loss)


def test_flip_labels_realized_transition():
    y = np.repeat(np.arange(10), 500)
    r = nb.flip_labels(y, 0.2, num_classes=10, seed=0)
    assert r.labels.dtype == np.int64 and r.flip_mask.dtype == bool
    assert np.array_equal(r.flip_mask, r.labels != y)
    assert np.allclose(r.transition.sum(axis=1), 1)
    assert abs(np.diag(r.transition).mean() - (1 - r.flip_mask.mean())) < 1e-12  # balanced classes
    assert 0.17 < r.flip_mask.mean() < 0.23
    assert np.array_equal(r.labels, nb.flip_labels(y, 0.2, num_classes=10, seed=0).labels)
    pair = nb.flip_labels(y, 0.3, num_classes=10, mode="pair", seed=1)
    flipped = pair.flip_mask
    assert np.array_equal(pair.labels[flipped], (y[flipped] + 1) % 10)
    m = np.eye(3)[[1, 2, 0]]  # every label i -> i+1
    assert np.array_equal(nb.flip_labels(np.array([0, 1, 2]), num_classes=3, mode=m, seed=0).labels, [1, 2, 0])
    with pytest.raises(UserError):
        nb.flip_labels(np.array([0.5]), 0.1, num_classes=2)


def test_synth_arrays_equal_the_files(tmp_path):
    from noisebench.generators.synth.files import build
    from noisebench.generators.synth.generator import SynthParams

    a = nb.synth(300, seed=4)
    clean, dirty = build(SynthParams(rows=300, seed=4), tmp_path)
    with open_file(clean) as c, open_file(dirty) as d:
        assert np.array_equal(a.x_train, c.datasets["train/x"][...]) and np.array_equal(a.y_val, c.datasets["val/y"][...])
        assert np.array_equal(a.x_train_dirty, d.datasets["train/x"][...])
        assert np.array_equal(a.y_train_dirty, d.datasets["train/y"][...])
    assert len(a.truth["dirty_rows"]) == int(0.1 * len(a.x_train))
    with pytest.raises(UserError, match="rows must be"):
        nb.synth(10**12)
