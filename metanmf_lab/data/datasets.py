"""The five benchmark datasets of the thesis (Table 4.1) and MovieLens 100K, verified and cached.

Every dataset is returned in scikit-learn orientation, ``X`` of shape ``(n_samples, n_features)``,
preprocessed as in the thesis and the authors' code:

========  ==========  =========  =========  ===============================================
name      samples     features   classes    source and preprocessing
========  ==========  =========  =========  ===============================================
blobs     10000       500        5          ``make_blobs(n_samples=10000, centers=5,
                                            cluster_std=25, n_features=500, random_state=0)``
digits    1797        64         10         scikit-learn ``load_digits`` (8x8 images)
fmnist    6000        784        10         6000 of the first 8226 Fashion-MNIST training
                                            images, ``train_test_split(train_size=6000,
                                            stratify=y, random_state=42)`` (28x28)
faces     400         1024       40         Olivetti faces, 64x64 averaged over 2x2 blocks
                                            to 32x32 (``faces_size=64`` keeps 4096 features)
coil20    1440        1024       20         processed COIL-20 at 32x32
========  ==========  =========  =========  ===============================================

Each dataset is then converted to float and min-max scaled per feature to [0, 1]
(:class:`~sklearn.preprocessing.MinMaxScaler`; constant features become 0). With ``noise > 0``,
Gaussian noise of standard deviation ``noise`` is added and the absolute value taken, which keeps
the data non-negative (the authors'-code protocol).

Data files are read from :func:`metanmf_lab._config.data_dir` (``$METANMF_DATA`` if set, else
``<project>/data``) and verified by SHA-256 before use. For users with internet access a missing
file is downloaded from its canonical source (``download=True``) into that folder: written to a
temporary file beside it, verified, then moved into place, so no half-written file is ever left.

Two deviations from the thesis are forced by the offline data and must be stated wherever results
are reported: the thesis drew its 6000 Fashion-MNIST images from all 60,000 training images, we
draw them from the first 8226; and a COIL-20 array rebuilt from the public CAVE archive
(``coil20_32x32_from_cave.npz``) is not byte-identical to the authors' 32x32 array
(``coil20_32x32.npz``, always preferred when present), which is said with a :class:`UserWarning`.

A reader's own dataset, an ``.npz`` file (arrays ``X`` and ``y``) or a ``.csv`` file (a header
row, a label column named ``label`` or ``y``, every other column a feature), is checked,
preprocessed the same way and registered under ``<file stem>-<content hash>`` by
:func:`user_dataset`; :func:`load_dataset` and :func:`dataset_info` then take that name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image
from scipy.io import loadmat
from sklearn.datasets import load_digits, make_blobs
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from .._config import DATA_ENV, PROJECT_ROOT, data_dir
from .._validation import check_choice, check_dtype, check_int, check_real
from ..core.splits import SPLIT_SEED, learning_evaluation_split

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "DATA_FILES",
    "DataFileError",
    "DataFolderError",
    "DownloadError",
    "MissingDataError",
    "UserDataError",
    "FILE_SHA256",
    "URLS",
    "image_shape",
    "load_dataset",
    "load_movielens",
    "n_classes",
    "dataset_info",
    "fetch",
    "how_to_get",
    "missing_files",
    "is_user_dataset",
    "is_user_file",
    "user_dataset",
    "user_dataset_path",
]


class DataFileError(ValueError):
    """A data file exists but is corrupted, truncated, or not the expected version."""


class DownloadError(OSError):
    """A data file could not be downloaded (no network, unknown URL, unwritable folder...)."""


class DataFolderError(ValueError):
    """The data folder (``$METANMF_DATA``, else ``data/``) names something that is not a
    folder, e.g. a file."""


def _data_folder():
    """The data folder (:func:`~metanmf_lab._config.data_dir`), checked: raises
    :class:`DataFolderError`, naming the variable and its value, if it exists and is not a
    folder. A folder that does not exist yet is fine (a download creates it)."""
    folder = data_dir()
    if folder.exists() and not folder.is_dir():
        given = os.environ.get(DATA_ENV, "").strip()
        if given:
            raise DataFolderError(f"{DATA_ENV}={given!r} is not a folder but a file: set "
                                  f"{DATA_ENV} to the folder holding the data files (see "
                                  f"data/README.md), or unset it to use data/.")
        raise DataFolderError(f"{_shown_folder(folder)} is not a folder but a file: move it "
                              f"away (the data files belong in a folder data/), or set "
                              f"{DATA_ENV} to the folder holding them.")
    return folder


# --------------------------------------------------------------------------------------------
# Dataset metadata
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one benchmark dataset (thesis Table 4.1), or a reader's own dataset
    (:func:`user_dataset`: name ``<file stem>-<content hash>``, display name the file stem,
    default noise :data:`USER_DEFAULT_NOISE`, no image shape).

    Attributes
    ----------
    name : str
        Key accepted by :func:`load_dataset`.
    display_name : str
        Name used in the thesis tables.
    n_samples, n_features, n_classes : int
        Shape of ``X`` and number of distinct labels in ``y`` (Faces at the default 32x32).
    default_noise : float
        Standard deviation of the Gaussian noise used by default in the experiments. Blobs 0.1,
        Digits 0.4 and Faces 0.6 are the levels named in the authors' driver; the
        thesis names none for COIL20 and FMNIST, and 0.4 is **our choice** for both.
    image_shape : tuple of int or None
        Shape of one image (``None`` for Blobs, which are not images).
    description : str
        What the data are, in a few words (a results chapter's first sentence).
    noise_from_authors : bool
        Whether ``default_noise`` is the level the authors' code uses (else it is ours).
    """

    name: str
    display_name: str
    n_samples: int
    n_features: int
    n_classes: int
    default_noise: float
    image_shape: tuple[int, int] | None
    description: str = ""
    noise_from_authors: bool = False


FACES_SIZES = (32, 64)


def _check_name(name):
    """A built-in dataset's name (case-insensitive), or a registered reader's dataset."""
    if isinstance(name, str) and name in _USER:
        return name
    return check_choice(name, tuple(DATASETS) + tuple(_USER), name="dataset name")


def _check_faces_size(faces_size):
    faces_size = check_int(faces_size, name="faces_size")
    if faces_size not in FACES_SIZES:
        raise ValueError(f"faces_size must be 32 or 64, got {faces_size}.")
    return faces_size


def n_classes(name):
    """Return the number of classes of dataset ``name`` (case-insensitive)."""
    return dataset_info(_check_name(name)).n_classes


def image_shape(name, faces_size=32):
    """Return the image shape of dataset ``name``, or ``None`` for Blobs.

    Parameters
    ----------
    name : str
        Dataset name (case-insensitive).
    faces_size : {32, 64}, default=32
        Side of the Olivetti images, as passed to :func:`load_dataset`.

    Returns
    -------
    shape : tuple of int or None
    """
    name = _check_name(name)
    faces_size = _check_faces_size(faces_size)
    if name == "faces":
        return (faces_size, faces_size)
    return dataset_info(name).image_shape


# --------------------------------------------------------------------------------------------
# Data files: hashes, sources, readers, download recipes
# --------------------------------------------------------------------------------------------

#: SHA-256 of the data files, as listed in data/README.md.
FILE_SHA256 = {
    "olivettifaces.mat": "b1988d02c72fe5b8ee82b5ef3bb7982eafc74f1e1ff0ae0ade35061ad0af534d",
    "coil20_32x32.npz": "1b19c5ad81e7e93ea0ba284c0c20e50574c875af0f4de874e6d1da634a4c5789",
    "fashion_mnist_train_first8226.npz":
        "0f684e514c309411413ea2a9e272557f8bf6a594e76cc155623d9c5e067486a4",
    "fashion_mnist_test_first6978.npz":
        "8f3907b313dbcb3a02620d7cf6a96b862bc39605d76e446927cdf976033eb345",
    "movielens100k_ratings.npz": "cf15de227f7b9582723b4b3f6f33930318edcf9a0bc4ee28e0040927007516d0",
}

#: SHA-256 of the *contents* of a file: the C-order, little-endian bytes of its arrays,
#: concatenated in the order of the file's ``digest_keys``. A file whose container differs (an
#: npz written by another numpy, a .mat file saved differently) but whose arrays are identical
#: passes. Computed from the README-verified files.
CONTENT_SHA256 = {
    "olivettifaces.mat": "7964c5cc44c85859441189f37c95bb64ac343e67b4fed0ca51e40c35ef12643b",
    "fashion_mnist_train_first8226.npz":
        "170736ada1182c7f306edb1dce712e2cbb4252d095a0f4b991b0994de9935b40",
    "movielens100k_ratings.npz": "f87fc0c7375bd73968688c631177b12bbdfd2fad858ac6f56dc32d9ce3f278c8",
}

#: SHA-256 published upstream for a file as served at its URL, where it differs from the
#: README's: scikit-learn's checksum of the Olivetti .mat file at ``URLS["olivetti"]``. Such a
#: download is accepted only on its content digest (only used to explain a failure).
UPSTREAM_SHA256 = {
    "olivettifaces.mat": "b612fb967f2dc77c9c62d3e1266e0c73d5fca46a4b8906c18e454d41af987794",
}

_FMNIST_BASE = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

#: Canonical download sources (tests monkeypatch this table).
URLS = {
    "olivetti": "https://ndownloader.figshare.com/files/5976027",
    "fmnist_train_images": _FMNIST_BASE + "train-images-idx3-ubyte.gz",
    "fmnist_train_labels": _FMNIST_BASE + "train-labels-idx1-ubyte.gz",
    "coil20_proc": "http://www.cs.columbia.edu/CAVE/databases/SLAM_coil-20_coil-100/coil-20/"
                   "coil-20-proc.zip",
    "movielens100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
}

FMNIST_N_OFFLINE = 8226
COIL20_CAVE_FILE = "coil20_32x32_from_cave.npz"


@dataclass(frozen=True)
class _DataFile:
    """How to read, check and (optionally) rebuild one data file."""

    filename: str
    description: str
    schema: dict                      # array name -> (dtype, shape)
    digest_keys: tuple = ()           # arrays hashed by the content digest
    url_keys: tuple = ()              # keys of URLS the recipe downloads
    build: Callable | None = None     # build(downloaded paths..., out_file_object)
    verifiable: bool = True           # False: structure is checked, content cannot be
    warning: str | None = None        # emitted whenever this file is used

    @property
    def sha256(self):
        return FILE_SHA256.get(self.filename)

    @property
    def content_sha256(self):
        return CONTENT_SHA256.get(self.filename)

    def read(self, path):
        """Return the arrays of the file, checked against ``schema`` (raise DataFileError)."""
        try:
            if self.filename.endswith(".mat"):
                raw = loadmat(path, variable_names=list(self.schema))
            else:
                with np.load(path, allow_pickle=False) as z:
                    raw = {k: z[k] for k in self.schema if k in z.files}
        except Exception as exc:
            raise _file_error(self, path, f"it could not be read ({type(exc).__name__}: "
                                          f"{exc})") from exc
        arrays = {}
        for key, (dtype, shape) in self.schema.items():
            a = raw.get(key)
            if a is None:
                raise _file_error(self, path, f"it has no array {key!r}")
            if a.dtype != np.dtype(dtype) or a.shape != shape:
                raise _file_error(self, path, f"array {key!r} is {a.dtype} {a.shape}, expected "
                                              f"{np.dtype(dtype)} {shape}")
            a = np.ascontiguousarray(a)
            a.flags.writeable = False
            arrays[key] = a
        return arrays


def _content_digest(arrays, keys):
    h = hashlib.sha256()
    for k in keys:
        a = arrays[k]
        h.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
    return h.hexdigest()


def _how_to_fix(spec):
    again = "download it again (download=True) or copy" if spec.build else "copy"
    return (f"Delete it and {again} it again from a folder holding a verified copy (see "
            f"data/README.md; {DATA_ENV} selects the folder).")


def _file_error(spec, path, problem):
    return DataFileError(f"Data file {spec.filename!r} ({spec.description}) at {path} is unusable: "
                         f"{problem}. {_how_to_fix(spec)}")


# ---- readers of the raw source formats (used by the download recipes) ----------------------

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_idx(path):
    """Read an IDX file (the MNIST / Fashion-MNIST format), gzip-compressed or not.

    Returns an array of the file's shape, in native byte order.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header.")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = header + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise ValueError(f"{path}: IDX header announces shape {shape} ({expected} bytes) but the "
                         f"file has {len(data)} bytes.")
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _build_fmnist(images_path, labels_path, out):
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    n = FMNIST_N_OFFLINE
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.shape[0] < n \
            or labels.shape != (images.shape[0],):
        raise ValueError(f"unexpected Fashion-MNIST IDX shapes: images {images.shape}, labels "
                         f"{labels.shape} (need at least {n} images of 28x28 and one label each)")
    np.savez(out, X=images[:n].reshape(n, 784).astype(np.uint8),
             y=labels[:n].astype(np.int64), orig_index=np.arange(n, dtype=np.int32))


_COIL_NAME = re.compile(r"(?:^|/)obj(\d+)__(\d+)\.png$")


def _build_coil20(zip_path, out):

    with zipfile.ZipFile(zip_path) as zf:
        # Lexicographic file-name order (obj10, obj11, ..., obj1, obj20, obj2, ... and poses
        # 0, 1, 10, 11, ...): the order of the authors' 32x32 array.
        names = sorted((n for n in zf.namelist() if _COIL_NAME.search(n)),
                       key=lambda n: n.rsplit("/", 1)[-1])
        if len(names) != 1440:
            raise ValueError(f"expected 1440 images obj{{1..20}}__{{0..71}}.png in the archive, "
                             f"found {len(names)}")
        X = np.empty((len(names), 1024), dtype=np.uint8)
        for i, n in enumerate(names):
            with Image.open(io.BytesIO(zf.read(n))) as im:
                X[i] = np.asarray(im.convert("L").resize((32, 32), Image.BILINEAR)).ravel()
    y = np.array([int(_COIL_NAME.search(n).group(1)) for n in names], dtype=np.int64)
    np.savez_compressed(out, X=X, y=y)


def _build_movielens(zip_path, out):
    with zipfile.ZipFile(zip_path) as zf:
        text = zf.read("ml-100k/u.data")
    table = np.loadtxt(io.BytesIO(text), dtype=np.int64, delimiter="\t", ndmin=2)
    if table.shape[1] != 4:
        raise ValueError(f"ml-100k/u.data has {table.shape[1]} columns, expected 4")
    np.savez(out, **{k: np.ascontiguousarray(table[:, i])
                     for i, k in enumerate(("user", "item", "rating", "timestamp"))})


def _copy_download(path, out):
    with open(path, "rb") as f:
        shutil.copyfileobj(f, out)


_FILES = {spec.filename: spec for spec in (
    _DataFile("olivettifaces.mat", "Olivetti faces",
              {"faces": (np.uint8, (4096, 400))}, ("faces",),
              ("olivetti",), _copy_download),
    _DataFile("fashion_mnist_train_first8226.npz", "first 8226 Fashion-MNIST training images",
              {"X": (np.uint8, (FMNIST_N_OFFLINE, 784)), "y": (np.int64, (FMNIST_N_OFFLINE,))},
              ("X", "y"), ("fmnist_train_images", "fmnist_train_labels"), _build_fmnist),
    _DataFile("coil20_32x32.npz", "COIL-20 at 32x32, the authors' array",
              {"X": (np.uint8, (1440, 1024)), "y": (np.int64, (1440,))}),
    _DataFile(COIL20_CAVE_FILE, "COIL-20 at 32x32 rebuilt from the CAVE archive",
              {"X": (np.uint8, (1440, 1024)), "y": (np.int64, (1440,))},
              (), ("coil20_proc",), _build_coil20, verifiable=False,
              warning=(f"Using {COIL20_CAVE_FILE}, COIL-20 downscaled to 32x32 from the public "
                       f"CAVE archive: it is NOT byte-identical to the authors' 32x32 array "
                       f"(coil20_32x32.npz) and cannot be hash-verified, so results may differ "
                       f"slightly from the thesis. Put coil20_32x32.npz in the data folder to "
                       f"use the verified array.")),
    _DataFile("movielens100k_ratings.npz", "MovieLens 100K ratings",
              {k: (np.int64, (100000,)) for k in ("user", "item", "rating", "timestamp")},
              ("user", "item", "rating", "timestamp"), ("movielens100k",), _build_movielens),
)}


# --------------------------------------------------------------------------------------------
# Locating, verifying, downloading
# --------------------------------------------------------------------------------------------


def _file_key(path):
    st = os.stat(path)
    return (str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256(path, size, mtime_ns):
    """SHA-256 of a file, computed at most once per (path, size, mtime)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified_arrays(spec, path):
    """Read and verify ``path``: file SHA-256, else content digest. Raise DataFileError."""
    return _verified_arrays_cached(spec.filename, *_file_key(path))


@lru_cache(maxsize=16)
def _verified_arrays_cached(filename, path, size, mtime_ns):
    spec = _FILES[filename]
    actual = _sha256(path, size, mtime_ns)
    if not spec.verifiable or actual == spec.sha256:
        return spec.read(path)
    if spec.content_sha256 is not None:
        try:
            arrays = spec.read(path)
        except DataFileError as exc:
            reason = f"; it could not be read either ({exc.__cause__ or exc})"
        else:
            digest = _content_digest(arrays, spec.digest_keys)
            if digest == spec.content_sha256:
                return arrays
            reason = f", and its content digest is {digest}"
        expected = f"{spec.sha256} (or content digest {spec.content_sha256})"
    else:
        reason, expected = "", spec.sha256
    if actual == UPSTREAM_SHA256.get(filename):
        reason += (" (this is the SHA-256 published upstream for the file at its download URL, "
                   "so the upstream data differ from the copy this project was verified with)")
    raise DataFileError(
        f"Data file {filename!r} ({spec.description}) at {path} failed verification: expected "
        f"SHA-256 {expected}, got {actual}{reason}. The file is corrupted, truncated or a "
        f"different version. {_how_to_fix(spec)}")


def _missing_message(specs, folder):
    first = specs[0]
    lines = [f"Data file {first.filename!r} ({first.description}) was not found in "
             f"{_shown_folder(folder)}."]
    if len(specs) > 1:
        lines.append("Also looked for " + ", ".join(repr(s.filename) for s in specs[1:]) + ".")
    lines.append(f"To get it, set the {DATA_ENV} environment variable to a folder holding it "
                 f"(see data/README.md)")
    buildable = [s for s in specs if s.build is not None]
    if buildable:
        s = buildable[0]
        urls = ", ".join(URLS[k] for k in s.url_keys)
        what = "download it" if s is first else f"build {s.filename!r}"
        if not s.verifiable:
            what += " (an unverified rebuild, not byte-identical to the original)"
        lines[-1] += f", or pass download=True to {what} from {urls}"
    return " ".join(lines) + "."


def _download(url, out, filename, folder):
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out)
    except Exception as exc:
        raise DownloadError(f"{filename!r} is not in {_shown_folder(folder)}, and downloading "
                            f"it from {url} failed: {exc}. Without network access, set {DATA_ENV} "
                            f"to a folder holding the file (see data/README.md).") from exc


def _make_folder(folder):
    """Create ``folder`` and its missing parents; return the folders created, innermost
    first (for :func:`_fetch` to remove again if nothing is saved in them)."""
    created = []
    for f in (folder, *folder.parents):
        if f.exists():
            break
        created.append(f)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"Cannot create the data folder {_shown_folder(folder)} "
                            f"({exc.strerror}): set {DATA_ENV} to a folder you can write "
                            f"(see data/README.md).") from None
    return created


def _fetch(spec, folder):
    """Download (and derive) ``spec`` into ``folder`` atomically; return its path. A folder
    created for it is removed again if the download fails: only a saved file leaves one."""
    created = _make_folder(folder)
    final = folder / spec.filename
    temps = []

    def tempfile_in_folder():
        try:
            fh = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{spec.filename}.",
                                             suffix=".part", delete=False)
        except OSError as exc:
            raise DownloadError(f"Cannot write {spec.filename!r} into "
                                f"{_shown_folder(folder)}: {exc.strerror}.") from exc
        temps.append(fh.name)
        return fh

    try:
        sources = []
        for k in spec.url_keys:
            with tempfile_in_folder() as fh:
                _download(URLS[k], fh, spec.filename, folder)
            sources.append(fh.name)
        with tempfile_in_folder() as out:
            try:
                spec.build(*sources, out)
            except Exception as exc:
                raise DataFileError(
                    f"Could not build {spec.filename!r} from "
                    f"{', '.join(URLS[k] for k in spec.url_keys)}: {exc}") from exc
        try:
            _verified_arrays(spec, Path(out.name))
        except DataFileError as exc:
            raise DataFileError(f"The {spec.filename!r} obtained from "
                                f"{', '.join(URLS[k] for k in spec.url_keys)} was rejected and "
                                f"not saved. {exc}") from exc
        os.replace(out.name, final)
    finally:
        for t in temps:
            if os.path.exists(t):
                os.remove(t)
        if not final.exists():
            for f in created:  # innermost first; a folder something else wrote into stays
                try:
                    f.rmdir()
                except OSError:
                    break
    return final


def _locate(filenames, download):
    """Return the path and spec of the first present file of ``filenames``, downloading the
    first downloadable one if none is present and ``download`` is true."""
    folder = _data_folder()
    specs = [_FILES[f] for f in filenames]
    for spec in specs:
        path = folder / spec.filename
        if path.is_file():
            return spec, path
    buildable = [s for s in specs if s.build is not None]
    if not (download and buildable):
        raise FileNotFoundError(_missing_message(specs, folder))
    return buildable[0], _fetch(buildable[0], folder)


def _load_file(filenames, download):
    spec, path = _locate(filenames, download)
    if spec.warning:
        warnings.warn(spec.warning, UserWarning, stacklevel=4)
    return _verified_arrays(spec, path), (spec.filename, *_file_key(path))


# --------------------------------------------------------------------------------------------
# The datasets: one small function each, returning unscaled (X, y)
# --------------------------------------------------------------------------------------------


def _blobs(arrays, faces_size, subset_seed):
    return make_blobs(n_samples=10000, centers=5, cluster_std=25, n_features=500,
                      random_state=0)


def _digits(arrays, faces_size, subset_seed):
    return load_digits(return_X_y=True)


def _fmnist(arrays, faces_size, subset_seed):
    X, _, y, _ = train_test_split(arrays["X"], arrays["y"], train_size=6000,
                                  stratify=arrays["y"], random_state=subset_seed)
    return X, y


def _faces(arrays, faces_size, subset_seed):
    # Column j is image j stored column-major: faces[:, j].reshape(64, 64).T is upright.
    images = arrays["faces"].T.reshape(400, 64, 64).transpose(0, 2, 1).astype(np.float64)
    if faces_size == 32:  # exact 2x2 block average
        images = images.reshape(400, 32, 2, 32, 2).mean(axis=(2, 4))
    return images.reshape(400, -1), np.arange(400) // 10


def _coil20(arrays, faces_size, subset_seed):
    return arrays["X"], arrays["y"]


#: Seed of the stratified draw of the 6000 Fashion-MNIST images (the authors' code's 42).
FMNIST_SUBSET_SEED = 42

#: The built-in datasets, one entry each, in the order of the thesis tables: its
#: :class:`DatasetInfo`, its data files in order of preference (``()``: the data come with
#: scikit-learn) and the function that builds its unscaled ``(X, y)``. Adding a dataset is one
#: entry here (and, for a new data file, its :class:`_DataFile` in ``_FILES``).
_BUILT_IN = (
    (DatasetInfo("blobs", "Blobs", 10000, 500, 5, 0.1, None,
                 "synthetic points drawn around Gaussian centres", True), (), _blobs),
    (DatasetInfo("digits", "Digits", 1797, 64, 10, 0.4, (8, 8),
                 "images of handwritten digits", True), (), _digits),
    (DatasetInfo("fmnist", "FMNIST", 6000, 784, 10, 0.4, (28, 28),
                 "Fashion-MNIST images of clothing"),
     ("fashion_mnist_train_first8226.npz",), _fmnist),
    (DatasetInfo("faces", "Faces", 400, 1024, 40, 0.6, (32, 32),
                 "Olivetti photographs of faces", True), ("olivettifaces.mat",), _faces),
    (DatasetInfo("coil20", "COIL20", 1440, 1024, 20, 0.4, (32, 32),
                 "COIL-20 photographs of objects on a turntable"),
     ("coil20_32x32.npz", COIL20_CAVE_FILE), _coil20),
)

#: Ordered mapping ``name -> DatasetInfo``, in the order of the thesis tables.
DATASETS = MappingProxyType(OrderedDict((info.name, info) for info, _, _ in _BUILT_IN))

#: name -> (data files in order of preference, or () for built-in data; builder)
_REGISTRY = {info.name: (files, build) for info, files, build in _BUILT_IN}


@lru_cache(maxsize=8)
def _clean_cached(name, faces_size, file_key, subset_seed=FMNIST_SUBSET_SEED):
    """Scaled clean data; ``file_key`` (filename, path, size, mtime) ties it to the file read."""

    builder = _REGISTRY[name][1]
    arrays = _verified_arrays_cached(*file_key) if file_key else None
    X, y = builder(arrays, faces_size, subset_seed)
    # clip=True only removes floating-point round-off outside [0, 1].
    X = MinMaxScaler(clip=True).fit_transform(np.asarray(X, dtype=np.float64))
    X, y = np.ascontiguousarray(X), np.ascontiguousarray(y, dtype=np.int64)
    n_features = faces_size ** 2 if name == "faces" else DATASETS[name].n_features
    if X.shape != (DATASETS[name].n_samples, n_features) or \
            len(np.unique(y)) != DATASETS[name].n_classes:
        raise DataFileError(f"Dataset {name!r} has shape {X.shape} and {len(np.unique(y))} "
                            f"classes, expected {(DATASETS[name].n_samples, n_features)} and "
                            f"{DATASETS[name].n_classes}.")
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y


def _clean(name, faces_size, download, subset_seed=FMNIST_SUBSET_SEED):
    if name in _USER:
        return _user_clean(name)
    filenames, _ = _REGISTRY[name]
    file_key = _load_file(filenames, download)[1] if filenames else None
    return _clean_cached(name, faces_size if name == "faces" else 32, file_key,
                         subset_seed if name == "fmnist" else FMNIST_SUBSET_SEED)


# --------------------------------------------------------------------------------------------
# Your own data: a reader's .npz or .csv file
# --------------------------------------------------------------------------------------------

#: File types a reader's own dataset may have (see :func:`user_dataset`).
USER_SUFFIXES = (".npz", ".csv")

#: Names of the label column of a reader's .csv file (compared case-insensitively).
LABEL_COLUMNS = ("label", "y")

#: Noise standard deviation of a reader's dataset in the noisy condition: **our choice**, the
#: level of Digits, COIL20 and FMNIST (the data are min-max scaled to [0, 1] first).
USER_DEFAULT_NOISE = 0.4

#: Fewest samples a class of a reader's dataset needs: one for each half of the 50/50
#: learning/evaluation split.
MIN_PER_CLASS = 2

#: Hex digits of the content hash in a reader's dataset name.
USER_HASH_DIGITS = 12

_NEED_NPZ = ("An .npz file needs an array X of non-negative numbers, shape (n_samples, "
             "n_features), and an array y of labels (numbers or strings), shape (n_samples,): "
             "np.savez(path, X=X, y=y).")
_NEED_CSV = (f"A .csv file needs a header row, a label column named {LABEL_COLUMNS[0]!r} (or "
             f"{LABEL_COLUMNS[1]!r}), and every other column a feature holding non-negative "
             f"numbers, one row per sample.")


class UserDataError(DataFileError):
    """A reader's own data file cannot be used; the message names the file, what is wrong and
    what is needed."""


#: name -> (absolute path, DatasetInfo) of the reader's files registered in this process.
_USER = {}


def _bad(fname, problem, need=""):
    return UserDataError(f"Data file {fname!r} cannot be used: {problem}." + (
        f" {need}" if need else ""))


def is_user_file(value):
    """Whether a ``dataset`` value names a file rather than a built-in dataset: a string that
    is not a built-in name and has a suffix or a folder (``mine.npz``, ``data/mine``)."""
    if not isinstance(value, (str, os.PathLike)):
        return False
    text = os.fspath(value)
    if text.lower() in DATASETS:
        return False
    path = Path(text)
    return bool(path.suffix) or len(path.parts) > 1 or "/" in text or os.sep in text


def is_user_dataset(name):
    """Whether ``name`` is a reader's dataset registered (by :func:`user_dataset`) in this
    process."""
    return isinstance(name, str) and name in _USER


def dataset_info(name):
    """The :class:`DatasetInfo` of a built-in dataset (case-insensitive) or of a registered
    reader's dataset (see :func:`user_dataset`)."""
    name = _check_name(name)
    return _USER[name][1] if name in _USER else DATASETS[name]


def user_dataset_path(name):
    """The absolute path of a registered reader's dataset (what a worker process needs to
    register it again: :func:`user_dataset`)."""
    if name not in _USER:
        raise KeyError(f"{name!r} is not a registered dataset of your own; call "
                       f"user_dataset(path) first.")
    return _USER[name][0]


def user_dataset(path, *, expected_name=None):
    """Read, check and register a reader's own dataset; return its :class:`DatasetInfo`.

    The file is either

    * an ``.npz`` file with an array ``X`` of non-negative numbers, shape (n_samples,
      n_features), and an array ``y`` of labels (numbers or strings), shape (n_samples,)
      (other arrays are ignored; nothing saved with pickling is read); or
    * a ``.csv`` file with a header row, one label column named ``label`` (or ``y``;
      case-insensitive) and every other column a feature of non-negative numbers, one row per
      sample.

    It is preprocessed exactly as the built-in datasets (:func:`load_dataset`): converted to
    float64 and min-max scaled per feature to [0, 1]; in the noisy condition Gaussian noise is
    added after scaling and the absolute value taken. Labels that are integers are kept, any
    others (strings, non-integral numbers) become the codes 0..k-1 of their sorted values.

    The dataset's **name**, under which :func:`load_dataset` loads it and the result store
    keeps its rows, is ``<file stem>-<first 12 hex digits of a SHA-256 of its content>``: the
    hash covers X (as float64, with its shape) and y, not the container, so the same arrays in
    an .npz and a .csv file get the same hash, and a changed file gets a new name (new cells,
    never old rows). Its display name is the file stem; ``n_classes`` is the number of
    distinct labels; ``default_noise`` is :data:`USER_DEFAULT_NOISE` (0.4, our choice);
    ``image_shape`` is None.

    Registration lasts for this process: worker processes register the file again from its
    path (:func:`~metanmf_lab.grid.run_grid` hands it to them).

    Parameters
    ----------
    path : str or Path
        The file (a relative path is taken relative to the working directory).
    expected_name : str, optional
        The name the file must have (a worker checks that the file did not change since the
        run began).

    Returns
    -------
    DatasetInfo

    Raises
    ------
    UserDataError
        (a ``ValueError``) the file does not exist or cannot be read, has an unknown suffix,
        lacks ``X``/``y`` or the label column, has a wrong shape, a negative, NaN or infinite
        value, fewer than two classes, a class of fewer than :data:`MIN_PER_CLASS` samples, or
        an evaluation half with a single class. The message names the file (never its
        folder, except when it does not exist), says what is wrong and what is needed. Too
        few samples or features for the ranks of a run is checked by
        :func:`metanmf_lab.grid.check_ranks`.
    """
    given = os.fspath(path)
    path = Path(given).expanduser()
    suffix = path.suffix.lower()
    if suffix not in USER_SUFFIXES:
        raise _bad(path.name, f"its type {suffix or '(no suffix)'} is not one this package "
                              f"reads", "Your own data must be an .npz or a .csv file. "
                              + _NEED_NPZ + " " + _NEED_CSV)
    if not path.is_file():
        raise UserDataError(f"Data file {given!r} does not exist (or is not a file). A relative "
                            f"path is taken relative to the folder you run the command in.")
    path = path.resolve()
    st = path.stat()
    _, _, info = _user_arrays(str(path), st.st_size, st.st_mtime_ns)
    if expected_name is not None and info.name != expected_name:
        raise _bad(path.name, f"it changed while it was in use: its content is now "
                              f"{info.name!r}, not {expected_name!r}",
                   "Run again on the file as it is now.")
    _USER[info.name] = (path, info)
    return info


def _user_clean(name):
    """Scaled clean data of a registered reader's dataset, checked to be the file it was."""
    path = user_dataset_path(name)
    if not path.is_file():
        raise UserDataError(f"Data file {path.name!r} of dataset {name!r} is no longer there.")
    st = path.stat()
    X, y, info = _user_arrays(str(path), st.st_size, st.st_mtime_ns)
    if info.name != name:
        raise _bad(path.name, f"it changed after it was registered as {name!r} (its content is "
                              f"now {info.name!r})", "Run again on the file as it is now.")
    return X, y


def _read_user_npz(path, fname):
    if not zipfile.is_zipfile(path):
        raise _bad(fname, "it is not an .npz file (not a zip archive of arrays)", _NEED_NPZ)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("X", "y") if k not in z.files]
            if missing:
                holds = ", ".join(sorted(z.files)) or "no arrays"
                raise _bad(fname, f"it has no array {' and no array '.join(missing)} (it "
                                  f"holds: {holds})", _NEED_NPZ)
            return z["X"], z["y"]
    except UserDataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise _bad(fname, "an array holds Python objects (it was saved with pickling)",
                       "Save X as an array of numbers and y as an array of numbers or strings."
                       ) from exc
        raise _bad(fname, f"it could not be read ({exc})", _NEED_NPZ) from exc
    except Exception as exc:
        raise _bad(fname, f"it could not be read ({type(exc).__name__}: {exc})",
                   _NEED_NPZ) from exc


def _is_number(text):
    try:
        float(str(text))
    except ValueError:
        return False
    return True


def _read_user_csv(path, fname):

    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise _bad(fname, f"it could not be read as a .csv file ({type(exc).__name__}: "
                          f"{str(exc).strip()})", _NEED_CSV) from exc
    label = [c for c in df.columns if str(c).strip().lower() in LABEL_COLUMNS]
    if not label:
        if len(df.columns) and all(_is_number(c) for c in df.columns):
            problem = "its first row holds numbers, not a header row of column names"
        else:
            shown = ", ".join(repr(str(c)) for c in df.columns[:8])
            more = ", ..." if len(df.columns) > 8 else ""
            problem = f"it has no label column (its columns: {shown}{more})"
        raise _bad(fname, problem, _NEED_CSV)
    if len(label) > 1:
        raise _bad(fname, f"it has {len(label)} label columns "
                          f"({', '.join(repr(str(c)) for c in label)})",
                   "Keep one column named 'label' (or 'y').")
    features = df.drop(columns=label)
    if features.shape[1] == 0:
        raise _bad(fname, "it has a label column but no feature column", _NEED_CSV)
    numeric = features.apply(pd.to_numeric, errors="coerce")
    wrong = numeric.isna().to_numpy() & features.notna().to_numpy()
    if wrong.any():
        i, j = (int(k[0]) for k in np.nonzero(wrong))
        raise _bad(fname, f"feature column {str(features.columns[j])!r} holds "
                          f"{str(features.iat[i, j])!r} on line {i + 2}, not a number "
                          f"({int(wrong.sum())} such value(s) in all)", _NEED_CSV)
    y = df[label[0]]
    if y.isna().any():
        i = int(np.flatnonzero(y.isna().to_numpy())[0])
        raise _bad(fname, f"the label column has {int(y.isna().sum())} empty value(s) (first "
                          f"on line {i + 2})", "Every sample needs a label.")
    y = y.to_numpy()
    if y.dtype == object:  # text labels (pandas reads them as objects)
        y = y.astype(str)
    return numeric.to_numpy(dtype=np.float64), y


def _where(mask):
    """(row, column) of the first True of a 2-D mask, as text for messages."""
    i, j = (int(k[0]) for k in np.nonzero(mask))
    return f"the first at sample {i}, feature {j}, counting from 0"


@lru_cache(maxsize=4)
def _user_arrays(path, size, mtime_ns):
    """Read, check, hash and scale a reader's file: (X scaled, y int64, DatasetInfo)."""


    path = Path(path)
    fname = path.name
    X, y = (_read_user_npz if path.suffix.lower() == ".npz" else _read_user_csv)(path, fname)
    need = _NEED_NPZ if path.suffix.lower() == ".npz" else _NEED_CSV
    X, y = np.asarray(X), np.asarray(y)
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) \
            or np.iscomplexobj(X):
        raise _bad(fname, f"X holds {X.dtype} values, not real numbers", need)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise _bad(fname, f"X has shape {X.shape}, not (n_samples, n_features) with at least "
                          f"one of each", need)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise _bad(fname, f"y has shape {y.shape} but X has {X.shape[0]} samples", "y needs "
                          f"one label per sample, shape ({X.shape[0]},).")
    X = np.ascontiguousarray(X, dtype=np.float64)
    finite = np.isfinite(X)
    if not finite.all():
        raise _bad(fname, f"X has {int(X.size - finite.sum())} NaN or infinite value(s) "
                          f"({_where(~finite)})", "NMF needs finite data: fill or drop the "
                                                  "missing values.")
    if (X < 0).any():
        raise _bad(fname, f"X has {int((X < 0).sum())} negative value(s) (minimum "
                          f"{X.min():.4g}, {_where(X < 0)})", "NMF needs non-negative data: "
                          "shift or rescale the features so that every value is >= 0.")
    if not X.any():
        raise _bad(fname, "X is all zeros", "There is nothing to factorise.")
    if y.dtype == object or not (np.issubdtype(y.dtype, np.number) or y.dtype.kind in "bUS"):
        raise _bad(fname, f"y holds {y.dtype} values", "Labels must be numbers or strings.")
    if np.issubdtype(y.dtype, np.inexact) and not np.isfinite(y).all():
        raise _bad(fname, f"y has {int((~np.isfinite(y)).sum())} NaN or infinite label(s)",
                   "Every sample needs a label.")
    classes, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    if len(classes) < 2:
        raise _bad(fname, f"y has {len(classes)} class(es)", "Clustering against the labels "
                          "needs at least two classes.")
    if counts.min() < MIN_PER_CLASS:
        few = [f"{c!r} ({n} sample{'s' if n != 1 else ''})"
               for c, n in zip(classes.tolist(), counts) if n < MIN_PER_CLASS]
        raise _bad(fname, f"{len(few)} class(es) have fewer than {MIN_PER_CLASS} samples: "
                          f"{', '.join(few[:5])}{', ...' if len(few) > 5 else ''}",
                   f"The 50/50 learning/evaluation split needs at least {MIN_PER_CLASS} "
                   f"samples of every class: add samples or drop those classes.")
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        labels = y.astype(np.int64)
    else:
        labels = codes.astype(np.int64)
    eval_classes = np.unique(learning_evaluation_split(
        np.arange(len(y)), labels, random_state=SPLIT_SEED)[3])
    if len(eval_classes) < 2:
        raise _bad(fname, "the evaluation half of the 50/50 split (seed 42) holds one class "
                          "only", "Add samples of the other classes.")

    h = hashlib.sha256()
    h.update(f"X{X.shape}".encode())
    h.update(np.ascontiguousarray(X, dtype="<f8").tobytes())
    h.update(f"y{y.shape}".encode())
    if np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        h.update(np.ascontiguousarray(y, dtype="<i8").tobytes())
    elif np.issubdtype(y.dtype, np.floating):
        h.update(np.ascontiguousarray(y, dtype="<f8").tobytes())
    else:
        h.update("\x00".join(map(str, y.tolist())).encode())
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem).strip("._-") or "data"
    name = f"{stem}-{h.hexdigest()[:USER_HASH_DIGITS]}"
    info = DatasetInfo(name, path.stem, X.shape[0], X.shape[1], len(classes),
                       USER_DEFAULT_NOISE, None)
    X = np.ascontiguousarray(MinMaxScaler(clip=True).fit_transform(X))
    X.flags.writeable = False
    labels.flags.writeable = False
    return X, labels, info


# --------------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------------


def load_dataset(name, noise=0.0, random_state=0, *, faces_size=32, dtype=np.float64,
                 download=True, fmnist_subset_seed=FMNIST_SUBSET_SEED):
    """Load a benchmark dataset of the thesis, min-max scaled, optionally with noise.

    Parameters
    ----------
    name : {"blobs", "digits", "fmnist", "faces", "coil20"} or str
        Dataset name (case-insensitive); see :data:`DATASETS`. Or the name of a reader's
        own dataset registered by :func:`user_dataset` (``faces_size``, ``download`` and
        ``fmnist_subset_seed`` do not apply to it).
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added after scaling; the absolute value of the
        noisy data is returned (authors'-code protocol). ``0`` returns exactly the clean data. The
        levels used in the experiments are ``DATASETS[name].default_noise``.
    random_state : int, numpy.random.SeedSequence or numpy.random.Generator, default=0
        Seed of the noise, passed to :func:`numpy.random.default_rng`. The same seed gives the
        same noise (and the same noise for float32 and float64, which is drawn in float64).
    faces_size : {32, 64}, default=32
        Side of the Olivetti images: 32 (exact 2x2 block average, 1024 features, as in thesis
        Table 4.1) or 64 (4096 features, what the authors' code really used).
    dtype : {numpy.float64, numpy.float32}, default=numpy.float64
        Floating dtype of ``X``.
    download : bool, default=True
        If a data file is missing from the data folder, download it from its canonical source
        (internet needed). With ``False``, a missing file raises :class:`FileNotFoundError`.
    fmnist_subset_seed : int, default=42
        Seed of the stratified draw of the 6000 Fashion-MNIST images (ignored by the other
        datasets); 42 is the authors' code's.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Fresh C-contiguous array with values in [0, 1] (noise-free) or >= 0 (noisy).
    y : ndarray of shape (n_samples,), dtype int64
        Class labels (Faces: subject 0..39; COIL20: object 1..20).

    Raises
    ------
    ValueError, TypeError
        Unknown name or invalid parameter.
    FileNotFoundError
        A needed data file is absent and ``download=False``.
    DataFileError
        A data file fails its SHA-256 check or cannot be read.
    DownloadError
        A download failed.

    Warns
    -----
    UserWarning
        When COIL20 comes from the CAVE-derived file (not byte-identical to the authors' array).

    Examples
    --------
    >>> X, y = load_dataset("digits", noise=0.4, random_state=1)  # doctest: +SKIP
    >>> X.shape, int(y.max()) + 1  # doctest: +SKIP
    ((1797, 64), 10)
    """
    name = _check_name(name)
    noise = check_real(noise, name="noise", low=0.0)
    faces_size = _check_faces_size(faces_size)
    dtype = check_dtype(dtype)
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}.")
    if isinstance(random_state, bool):
        raise TypeError(f"random_state must be an int, a SeedSequence or a Generator, got "
                        f"{random_state!r}.")
    try:
        rng = np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"random_state must be an int >= 0, a SeedSequence or a Generator, got "
                        f"{random_state!r}: {exc}") from exc

    subset_seed = check_int(fmnist_subset_seed, name="fmnist_subset_seed", low=0)
    X, y = _clean(name, faces_size, download, subset_seed)
    if noise > 0:
        X = np.abs(X + rng.normal(0.0, noise, size=X.shape)).astype(dtype, copy=False)
    else:
        X = X.astype(dtype, order="C", copy=True)
    return X, y.copy()


def load_movielens(download=True):
    """Load the 100,000 ratings of MovieLens 100K (GroupLens; Harper & Konstan, 2015).

    Parameters
    ----------
    download : bool, default=True
        Download ``ml-100k.zip`` from GroupLens if ``movielens100k_ratings.npz`` is missing.

    Returns
    -------
    ratings : dict of str to ndarray of shape (100000,), dtype int64
        ``user`` (1..943), ``item`` (1..1682), ``rating`` (1..5), ``timestamp`` (Unix seconds),
        in the order of the official ``u.data``. Fresh copies.
    """
    if not isinstance(download, bool):
        raise TypeError(f"download must be True or False, got {download!r}.")
    arrays, _ = _load_file(("movielens100k_ratings.npz",), download)
    return {k: v.copy() for k, v in arrays.items()}


# --------------------------------------------------------------------------------------------
# Which data files are here: the book's check before it starts, the tests' skips, `make data`
# --------------------------------------------------------------------------------------------

#: The data files of each dataset that needs one, in order of preference; ``"movielens"`` is
#: the ratings of the meta-learned priors' chapter (:func:`load_movielens`).
DATA_FILES = MappingProxyType({**{name: files for name, (files, _) in _REGISTRY.items() if files},
                               "movielens": ("movielens100k_ratings.npz",)})


class MissingDataError(FileNotFoundError):
    """Data files needed are not in the data folder and could not be downloaded; the message
    names every one of them and how to get it."""


def _shown_folder(folder):
    """The data folder as a reader knows it: ``data/`` inside the project, the value of
    ``$METANMF_DATA`` as given when it names this folder, else as resolved."""

    folder = Path(folder).resolve()
    try:
        return folder.relative_to(PROJECT_ROOT).as_posix() + "/"
    except ValueError:
        pass
    given = os.environ.get(DATA_ENV, "").strip()
    if given and Path(given).expanduser().resolve() == folder:
        return given
    return str(folder)


def how_to_get(filename, tried=False):
    """How a reader gets the data file ``filename``, in one sentence (no full stop);
    ``tried``: a download was just tried and failed."""
    spec = _FILES[filename]
    copy = (f"copy it into {_shown_folder(data_dir())} or set {DATA_ENV} to a folder holding "
            f"it (see data/README.md)")
    if spec.build is None:
        return (f"{copy}; it cannot be downloaded (with internet, `make data` builds the "
                f"unverified rebuild {COIL20_CAVE_FILE} from the CAVE archive instead)")
    urls = ", ".join(URLS[k] for k in spec.url_keys)
    if tried:
        return f"downloading it from {urls} failed (no internet?); {copy}"
    return f"`make data` downloads it ({urls}), or {copy}"


def _data_names(names):
    names = list(DATA_FILES) if names is None else [str(n).lower() for n in names]
    unknown = [n for n in names if n not in DATA_FILES and n not in DATASETS]
    if unknown:
        raise ValueError(f"Unknown dataset(s) {', '.join(map(repr, unknown))}; the datasets "
                         f"are {', '.join(DATASETS)} and movielens.")
    return [n for n in names if n in DATA_FILES]


def missing_files(names=None):
    """The datasets among ``names`` (default: every one that needs a file) none of whose files
    is in the data folder, as ``{name: filename of its preferred file}``. Nothing is read,
    verified or downloaded."""
    folder = _data_folder()
    return {n: DATA_FILES[n][0] for n in _data_names(names)
            if not any((folder / f).is_file() for f in DATA_FILES[n])}


def fetch(names=None, download=True):
    """Make sure the data files of ``names`` (default: every dataset that needs one) are in the
    data folder and verified: a missing file is downloaded when ``download`` (internet needed).

    Returns
    -------
    dict of str to Path
        The file used for each dataset.

    Raises
    ------
    MissingDataError
        Some files are missing (and could not be downloaded) or fail verification: one message
        names every one of them and how to get it.
    """
    folder, found, problems = _data_folder(), {}, []
    for name in _data_names(names):
        files = DATA_FILES[name]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # the CAVE rebuild's notice
                spec, path = _locate(files, download)
                _verified_arrays(spec, path)
            found[name] = path
        except (FileNotFoundError, DownloadError) as exc:
            tried = isinstance(exc, DownloadError)
            problems.append(f"{files[0]} ({_FILES[files[0]].description}; dataset {name}) is "
                            f"not in {_shown_folder(folder)}: {how_to_get(files[0], tried)}.")
        except DataFileError as exc:
            problems.append(str(exc))
    if problems:
        raise MissingDataError("\n".join(["Data files are missing or unusable:"]
                                         + [f"- {p}" for p in problems]))
    return found
