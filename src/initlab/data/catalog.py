"""The published files of the MNIST family: names, sha256 digests, mirrors.

Digests: MNIST's as published (the t10k ones match ../shared/data/README.md); Fashion-MNIST
and KMNIST as pinned by torchvision/TensorFlow Datasets; ``mnist.npz`` as pinned by Keras.
LeCun's original page (http://yann.lecun.com/exdb/mnist/) no longer serves the files, so
MNIST comes from the mirrors PyTorch and TensorFlow use.

Example:
    >>> MNIST.file("t10k-labels-idx1-ubyte.gz").sha256[:8]
    'f7ae60f9'
"""

from __future__ import annotations

from initlab.data.remote import FileSet, RemoteFile

__all__ = ["MNIST", "MNIST_NPZ", "FASHION_MNIST", "KMNIST", "FILESETS", "PART_FILES"]

PART_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
"""Part of the data -> (images file, labels file), the same names in the whole family."""

MNIST = FileSet(
    "mnist",
    (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            9_912_422,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            28_881,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            1_648_877,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            4_542,
        ),
    ),
    (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

MNIST_NPZ = FileSet(
    "mnist",
    (
        RemoteFile(
            "mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
            size=11_490_434,
        ),
    ),
    ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
)
"""Keras's single-file MNIST (x_train, y_train, x_test, y_test); read when no IDX files."""

FASHION_MNIST = FileSet(
    "fashion_mnist",
    (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            size=26_421_880,
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            size=29_515,
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            size=4_422_102,
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            size=5_148,
        ),
    ),
    (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
)

KMNIST = FileSet(
    "kmnist",
    (
        RemoteFile(
            "train-images-idx3-ubyte.gz",
            "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
        ),
        RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
        ),
        RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
        ),
        RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        ),
    ),
    (
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        "https://codh.rois.ac.jp/kmnist/dataset/kmnist/",
    ),
)

FILESETS: dict[str, FileSet] = {fs.name: fs for fs in (MNIST, FASHION_MNIST, KMNIST)}
"""Dataset name -> its IDX file set."""
