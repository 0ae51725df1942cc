"""Datasets and loaders (``torch.utils.data``), plus MNIST-family readers."""

from .dataloader import DataLoader, default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .download import DownloadError, download_file, sha256sum
from .mnist import (
    MNIST,
    DataFileError,
    FashionMNIST,
    cache_dir,
    default_root,
    read_idx,
    read_mnist_pickle,
)

__all__ = [
    "Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
    "default_collate", "MNIST", "FashionMNIST", "read_idx", "read_mnist_pickle", "DataFileError",
    "DownloadError", "download_file", "sha256sum", "default_root", "cache_dir",
]
