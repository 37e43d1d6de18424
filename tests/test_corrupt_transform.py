"""nb.Corrupt: a transforms.v2-compatible transform (PIL, uint8 tensor, float tensor, samples) and its random
streams in a DataLoader with workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

import noisebench as nb
from noisebench.errors import UserError

IMG = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)


def test_pil_uint8_and_float_tensors_keep_their_type():
    t = nb.Corrupt("gaussian_noise", 3, seed=1)
    pil = t(Image.fromarray(IMG))
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (32, 32)
    grey = t(Image.fromarray(IMG[..., 0]))
    assert grey.mode == "L"
    u8 = torch.from_numpy(IMG).permute(2, 0, 1).contiguous()
    out = t(u8)
    assert out.dtype == torch.uint8 and out.shape == (3, 32, 32) and not torch.equal(out, u8)
    f = t(u8.float() / 255)
    assert f.dtype == torch.float32 and 0 <= f.min() and f.max() <= 1
    batch = t(torch.stack([u8, u8]))
    assert batch.shape == (2, 3, 32, 32)
    img = t(tv_tensors.Image(u8))
    assert isinstance(img, tv_tensors.Image)


def test_same_as_nb_corrupt_on_the_first_draws():
    """With a seed, the transform's first call in the main process equals nb.corrupt with that stream."""
    t = nb.Corrupt("fog", 2, seed=7)
    ss = np.random.SeedSequence(7, spawn_key=(0, 0))
    ref = nb.corrupt(IMG, "fog", 2, seed=np.random.Generator(np.random.SFC64(ss)))
    assert np.array_equal(np.asarray(t(Image.fromarray(IMG))), ref)


def test_inside_v2_compose_with_a_sample():
    pipe = v2.Compose([v2.PILToTensor(), nb.Corrupt("contrast", 5), v2.ToDtype(torch.float32, scale=True)])
    x = pipe(Image.fromarray(IMG))
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32)
    assert float(x.std()) < float(torch.from_numpy(IMG).float().div(255).std())  # contrast lowered
    img, label = nb.Corrupt("contrast", 5)((Image.fromarray(IMG), 3))
    assert label == 3 and isinstance(img, Image.Image)
    d = nb.Corrupt("contrast", 5)({"image": tv_tensors.Image(torch.from_numpy(IMG).permute(2, 0, 1)), "label": 1})
    assert d["label"] == 1 and isinstance(d["image"], tv_tensors.Image)


def test_bad_arguments_fail_when_built():
    for kwargs, msg in [(dict(name="nope", severity=1), "unknown corruption"), (dict(name="fog", severity=9), "severity"),
                        (dict(name="fog", severity=1, seed=-1), "seed"), (dict(name="fog", severity=1, constants="x"),
                                                                          "--constants")]:
        with pytest.raises(UserError, match=msg):
            nb.Corrupt(**kwargs)
    with pytest.raises(UserError, match="expects"):
        nb.Corrupt("fog", 1)("not an image")


class Same(Dataset):
    """Eight copies of one image, corrupted on the fly."""

    def __init__(self, transform):
        self.t = transform

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return self.t(torch.from_numpy(IMG).permute(2, 0, 1).contiguous())


def _run(transform, workers=2):
    dl = DataLoader(Same(transform), batch_size=1, num_workers=workers, shuffle=False)
    return torch.cat(list(dl)).numpy()


def test_dataloader_workers_draw_distinct_streams_reproducibly():
    a = _run(nb.Corrupt("gaussian_noise", 3, seed=11))
    b = _run(nb.Corrupt("gaussian_noise", 3, seed=11))
    assert np.array_equal(a, b)  # same seed, same loader: the same corruptions
    # samples 0 and 1 are the first draws of workers 0 and 1: distinct streams give distinct noise
    assert not np.array_equal(a[0], a[1])
    assert len({x.tobytes() for x in a}) == 8
    c = _run(nb.Corrupt("gaussian_noise", 3, seed=12))
    assert not np.array_equal(a, c)
    t = nb.Corrupt("gaussian_noise", 3, seed=11)
    t.set_epoch(1)
    assert not np.array_equal(a, _run(t))  # another epoch, other corruptions
    fresh1, fresh2 = _run(nb.Corrupt("gaussian_noise", 3)), _run(nb.Corrupt("gaussian_noise", 3))
    assert not np.array_equal(fresh1, fresh2)  # seed=None: fresh entropy every run
