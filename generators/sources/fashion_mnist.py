"""Fashion-MNIST in its official idx format (the MNIST layout; what torchvision downloads).

    FashionMNIST/raw/train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
                     t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]

60,000 + 10,000 grey 28×28 images of 10 clothing classes. The file names are MNIST's, so the two
are told apart by the folder (`FashionMNIST/raw`, or a folder whose name holds "fashion") or by the
md5 of the small training-label file; parsing, bounds and checksum rules are MNIST's
(generators/sources/mnist.py).
"""

from __future__ import annotations

from pathlib import Path

from noisebench.generators.sources.custom import ImageData, md5_file
from noisebench.generators.sources.mnist import FILES, has_idx_files, load_mnist
from noisebench.registry import register_source

MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
# Official md5s of the .gz files (torchvision.datasets.FashionMNIST). Module-level so tests can register fixtures.
OFFICIAL_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FOLDER = "FashionMNIST"


def is_fashion(d: Path) -> bool:
    """Does the idx folder D hold Fashion-MNIST rather than MNIST?"""
    d = Path(d)
    if any("fashion" in part.lower() for part in (d.name, d.parent.name)):
        return True
    labels = d / (FILES["train_labels"] + ".gz")
    try:
        return labels.is_file() and labels.stat().st_size < (1 << 20) and md5_file(labels) == OFFICIAL_MD5.get(labels.name)
    except OSError:
        return False


def find_fashion_dir(path: Path) -> Path | None:
    path = Path(path)
    for cand in (path / FOLDER / "raw", path / "raw" / FOLDER / "raw", path, path / "raw"):
        if has_idx_files(cand) and is_fashion(cand):
            return cand
    return None


@register_source(
    "fashion_mnist", description="Fashion-MNIST, official idx files (gz or plain): 60,000 + 10,000 grey 28x28 "
                                 "images of 10 clothing classes",
    recipe=dict(model="mnist_cnn", optimizer="adam", lr=1e-3, weight_decay=1e-5, batch_size=128, epochs=25,
                lr_policy="step", metric="val_acc", extra={"gamma": 0.7, "step_size": 2},
                source="the MNIST recipe: CNN, Adam 1e-3, wd 1e-5, StepLR(2, 0.7), batch 128, 25 epochs"),
    official=True, provenance_kind="fashion-mnist-idx", files=dict(OFFICIAL_MD5),
    title="Fashion-MNIST",
    url="https://github.com/zalandoresearch/fashion-mnist",
    license="MIT License, Copyright (c) 2017 Zalando SE (the LICENSE file of zalandoresearch/fashion-mnist); "
            "keep the copyright and permission notice with copies.",
    license_short="MIT",
    license_url="https://github.com/zalandoresearch/fashion-mnist/blob/master/LICENSE",
    citation="Han Xiao, Kashif Rasul and Roland Vollgraf. Fashion-MNIST: a Novel Image Dataset for Benchmarking "
             "Machine Learning Algorithms. arXiv:1708.07747, 2017.",
    bibtex="@article{xiao2017fashion,\n  author = {Han Xiao and Kashif Rasul and Roland Vollgraf},\n  title = "
           "{Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},\n  journal = "
           "{arXiv preprint arXiv:1708.07747},\n  year = {2017}\n}",
)
class FashionMNIST:
    """The official Fashion-MNIST idx files (torchvision's FashionMNIST/raw layout), md5-checked."""

    @staticmethod
    def find(path: Path) -> Path | None:
        return find_fashion_dir(Path(path))

    @staticmethod
    def download(root: Path) -> Path:
        from noisebench.generators.sources.mnist import download_mnist

        return download_mnist(Path(root), folder=FOLDER, files=OFFICIAL_MD5, mirrors=MIRRORS)

    @staticmethod
    def load(path: Path, verify: bool = True, name: str | None = None) -> ImageData:
        return load_mnist(Path(path), verify=verify, name=name or "fashion_mnist", md5_table=OFFICIAL_MD5,
                          finder=find_fashion_dir, class_names=CLASS_NAMES, kind="fashion-mnist-idx",
                          label="Fashion-MNIST")
