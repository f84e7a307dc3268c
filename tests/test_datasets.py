"""Tests of metanmf_lab.data.datasets: shapes, scaling, noise, errors, verification and downloads.

File-backed datasets are read from ``data_dir()``. When ``METANMF_DATA`` is not set and a file is
absent, the tests that need it are skipped; when it is set (CI points it at a folder of the files),
they run and fail if a file is missing. No test touches the network: an autouse fixture points
every download URL at a non-existent ``file://`` path, and the download tests point them at
fixtures written in ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import re
import shutil
import struct
import warnings
import zipfile

import numpy as np
import pytest
from metanmf_lab._config import DATA_ENV, data_dir
from metanmf_lab.data import datasets as ds
from sklearn.preprocessing import MinMaxScaler

# The real environment, captured before any test monkeypatches it.
ENV_SET = bool(os.environ.get(DATA_ENV, "").strip())
REAL_DATA = data_dir()

FILE_OF = {"fmnist": "fashion_mnist_train_first8226.npz", "faces": "olivettifaces.mat",
           "coil20": "coil20_32x32.npz", "movielens": "movielens100k_ratings.npz"}
NAMES = list(ds.DATASETS)
#: How to get each file, said before any test points the URLs or the data folder elsewhere.
HOW_TO_GET = {f: ds.how_to_get(f) for f in FILE_OF.values()}


def real_file(filename):
    """Path of a real data file: skip if it is absent and METANMF_DATA is not set, fail if it
    is absent although METANMF_DATA is set."""
    path = REAL_DATA / filename
    if not path.is_file():
        if ENV_SET:
            pytest.fail(f"{filename} is missing from {DATA_ENV}={REAL_DATA}")
        pytest.skip(f"{filename} is missing: {HOW_TO_GET[filename]}")
    return path


def require(name):
    if name in FILE_OF:
        real_file(FILE_OF[name])


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Point every download URL at a file that does not exist."""
    monkeypatch.setattr(ds, "URLS", {k: f"file:///nonexistent-metanmf-test/{k}"
                                     for k in ds.URLS})


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv(DATA_ENV, str(folder))
    return folder


def load(name, **kw):
    require(name)
    return ds.load_dataset(name, download=False, **kw)


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- metadata ------------------------------------------------------------------------------

def test_dataset_table():
    assert [i.display_name for i in ds.DATASETS.values()] == \
        ["Blobs", "Digits", "FMNIST", "Faces", "COIL20"]
    assert {n: i.default_noise for n, i in ds.DATASETS.items()} == \
        {"blobs": 0.1, "digits": 0.4, "fmnist": 0.4, "faces": 0.6, "coil20": 0.4}
    assert [ds.n_classes(n) for n in NAMES] == [5, 10, 10, 40, 20]
    assert ds.n_classes("COIL20") == 20
    assert ds.image_shape("blobs") is None
    assert ds.image_shape("digits") == (8, 8)
    assert ds.image_shape("fmnist") == (28, 28)
    assert ds.image_shape("faces") == (32, 32)
    assert ds.image_shape("faces", faces_size=64) == (64, 64)
    assert ds.image_shape("coil20", faces_size=64) == (32, 32)
    for info in ds.DATASETS.values():
        if info.image_shape is not None:
            assert np.prod(info.image_shape) == info.n_features
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.DATASETS["blobs"].n_samples = 3
    with pytest.raises(TypeError):
        ds.DATASETS["new"] = ds.DATASETS["blobs"]


# ---- shapes, ranges, dtype, labels ----------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_clean_dataset_properties(name):
    X, y = load(name)
    info = ds.DATASETS[name]
    assert X.shape == (info.n_samples, info.n_features)
    assert X.dtype == np.float64 and X.flags.c_contiguous and X.flags.writeable
    assert np.isfinite(X).all()
    # min-max scaling per feature: every feature spans [0, 1], constant ones are 0
    # (up to one rounding: MinMaxScaler computes x * scale + offset)
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert X.min(axis=0).max() == 0.0
    top = X.max(axis=0)
    np.testing.assert_allclose(top[top > 0], 1.0, rtol=0, atol=1e-12)
    assert y.dtype == np.int64 and y.shape == (info.n_samples,)
    assert np.unique(y).size == info.n_classes


@pytest.mark.parametrize("name", NAMES)
def test_noisy_float32(name):
    info = ds.DATASETS[name]
    X32, y = load(name, noise=info.default_noise, random_state=3, dtype=np.float32)
    assert X32.dtype == np.float32 and X32.flags.c_contiguous
    assert np.isfinite(X32).all() and X32.min() >= 0
    assert X32.max() > 1  # noise does push values past the clean range
    # the noise is drawn in float64: float32 output is the float64 output rounded
    X64, _ = load(name, noise=info.default_noise, random_state=3)
    np.testing.assert_array_equal(X32, X64.astype(np.float32))
    assert np.unique(y).size == info.n_classes


def test_case_insensitive_names():
    X, y = ds.load_dataset("DiGiTs")
    X2, y2 = ds.load_dataset("digits")
    np.testing.assert_array_equal(X, X2)


def test_faces_64_shape():
    X, y = load("faces", faces_size=64)
    assert X.shape == (400, 4096) and np.unique(y).size == 40
    assert X.min() == 0 and X.max() == 1


# ---- noise and copies ----------------------------------------------------------------------

def test_noise_is_reproducible():
    clean, y = ds.load_dataset("digits")
    a, ya = ds.load_dataset("digits", noise=0.4, random_state=7)
    b, _ = ds.load_dataset("digits", noise=0.4, random_state=7)
    c, _ = ds.load_dataset("digits", noise=0.4, random_state=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(ya, y)
    # |clean + N(0, sigma)|, drawn with default_rng(random_state)
    noise = np.random.default_rng(7).normal(0.0, 0.4, size=clean.shape)
    np.testing.assert_array_equal(a, np.abs(clean + noise))
    # noise = 0 returns exactly the clean data, whatever the seed
    z, _ = ds.load_dataset("digits", noise=0, random_state=123)
    np.testing.assert_array_equal(z, clean)
    assert 0.3 < np.std(a - clean) < 0.5


def test_random_state_generator_and_errors():
    a, _ = ds.load_dataset("digits", noise=0.1, random_state=np.random.default_rng(5))
    b, _ = ds.load_dataset("digits", noise=0.1, random_state=5)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="random_state.*-1"):
        ds.load_dataset("digits", noise=0.1, random_state=-1)
    with pytest.raises(TypeError, match="random_state"):
        ds.load_dataset("digits", noise=0.1, random_state=True)


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_returns_fresh_copies(noise):
    X1, y1 = ds.load_dataset("digits", noise=noise)
    X2, y2 = ds.load_dataset("digits", noise=noise)
    assert not np.shares_memory(X1, X2) and not np.shares_memory(y1, y2)
    X1[:] = -5.0
    y1[:] = -5
    X3, y3 = ds.load_dataset("digits", noise=noise)
    np.testing.assert_array_equal(X3, X2)
    np.testing.assert_array_equal(y3, y2)


def test_movielens():
    real_file(FILE_OF["movielens"])
    r = ds.load_movielens(download=False)
    assert set(r) == {"user", "item", "rating", "timestamp"}
    for v in r.values():
        assert v.dtype == np.int64 and v.shape == (100000,)
    assert r["user"].min() == 1 and r["user"].max() == 943
    assert r["item"].min() == 1 and r["item"].max() == 1682
    assert np.unique(r["user"]).size == 943 and np.unique(r["item"]).size == 1682
    np.testing.assert_array_equal(np.bincount(r["rating"])[1:], [6110, 11370, 27145, 34174, 21201])
    r["rating"][:] = 0
    assert ds.load_movielens(download=False)["rating"].min() == 1


# ---- dataset-specific facts ----------------------------------------------------------------

def _olivetti_images():
    from scipy.io import loadmat
    faces = loadmat(real_file(FILE_OF["faces"]))["faces"]
    return np.stack([faces[:, j].reshape(64, 64).T for j in range(400)]).astype(np.float64)


def _scaled(X):
    return MinMaxScaler().fit_transform(X)


def test_faces_block_average_and_labels():
    img64 = _olivetti_images()
    X32, y = load("faces")
    X64, y64 = load("faces", faces_size=64)
    # Scaling is per feature, so the relation holds before scaling: the 32x32 data are the
    # scaled 2x2 block averages of the 64x64 images, and the 64x64 data the scaled images.
    blocks = img64.reshape(400, 32, 2, 32, 2).mean(axis=(2, 4)).reshape(400, -1)
    np.testing.assert_allclose(X32, _scaled(blocks), atol=1e-12)
    np.testing.assert_allclose(X64, _scaled(img64.reshape(400, -1)), atol=1e-12)
    np.testing.assert_array_equal(y, np.arange(400) // 10)
    np.testing.assert_array_equal(y64, y)
    assert y[0] == 0 and y[10] == 1 and np.bincount(y).tolist() == [10] * 40


def test_faces_are_upright():
    # A mean face is nearly left-right symmetric; a transposed one would be up-down symmetric.
    mean = load("faces", faces_size=64)[0].mean(axis=0).reshape(64, 64)
    lr = np.abs(mean - mean[:, ::-1]).mean()
    ud = np.abs(mean - mean[::-1, :]).mean()
    assert lr < 0.5 * ud


def test_fmnist_is_a_stratified_draw():
    X, y = load("fmnist")
    full = np.load(real_file(FILE_OF["fmnist"]))["y"]
    expected = np.bincount(full) * 6000 / full.size
    assert np.all(np.abs(np.bincount(y) - expected) <= 1)
    assert not np.array_equal(y, full[:6000])  # a shuffled draw, not the first 6000


def test_fmnist_subset_seed_draws_another_stratified_subset():
    X, y = load("fmnist")
    X0, y0 = load("fmnist", fmnist_subset_seed=0)
    assert X0.shape == X.shape and np.array_equal(np.bincount(y0), np.bincount(y))
    assert not np.array_equal(X0, X)
    again, _ = load("fmnist", fmnist_subset_seed=42)
    np.testing.assert_array_equal(again, X)  # 42 is the default draw
    d0, _ = load("digits", fmnist_subset_seed=0)
    np.testing.assert_array_equal(d0, load("digits")[0])  # other datasets ignore it


def test_coil20_labels():
    X, y = load("coil20")
    assert np.bincount(y).tolist() == [0] + [72] * 20


# ---- parameter errors ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, match", [
    ({"name": "mnist"}, ValueError, "Unknown dataset name 'mnist'.*blobs.*digits.*fmnist.*faces"
                                    ".*coil20"),
    ({"noise": -0.5}, ValueError, r"noise.*-0\.5"),
    ({"noise": float("nan")}, ValueError, "noise.*nan"),
    ({"noise": float("inf")}, ValueError, "noise.*inf"),
    ({"noise": "0.1"}, TypeError, "noise.*'0.1'"),
    ({"noise": None}, TypeError, "noise.*None"),
    ({"faces_size": 48}, ValueError, "faces_size must be 32 or 64, got 48"),
    ({"fmnist_subset_seed": -1}, ValueError, "fmnist_subset_seed"),
    ({"faces_size": 32.0}, TypeError, "faces_size"),
    ({"dtype": np.int32}, ValueError, "dtype must be float32 or float64"),
    ({"dtype": np.float16}, ValueError, "dtype must be float32 or float64"),
    ({"download": "yes"}, TypeError, "download"),
])
def test_parameter_errors(kwargs, exc, match):
    kwargs = {"name": "digits", **kwargs}
    with pytest.raises(exc, match=match):
        ds.load_dataset(**kwargs)


def test_unknown_name_in_helpers():
    with pytest.raises(ValueError, match="Unknown dataset name"):
        ds.n_classes("nope")
    with pytest.raises(ValueError, match="faces_size"):
        ds.image_shape("faces", faces_size=16)


# ---- missing and corrupted files -----------------------------------------------------------

@pytest.mark.parametrize("name", ["fmnist", "faces", "coil20", "movielens"])
def test_missing_file(name, empty_data):
    filename = FILE_OF[name]
    with pytest.raises(FileNotFoundError) as info:
        if name == "movielens":
            ds.load_movielens(download=False)
        else:
            ds.load_dataset(name, download=False)
    msg = str(info.value)
    assert filename in msg and str(empty_data) in msg
    assert DATA_ENV in msg and "download=True" in msg


def test_garbage_file_is_rejected(empty_data):
    (empty_data / "olivettifaces.mat").write_bytes(b"not a MATLAB file" * 100)
    expected = ds.FILE_SHA256["olivettifaces.mat"]
    with pytest.raises(ds.DataFileError,
                       match=f"olivettifaces.mat.*expected SHA-256 {expected}.*got [0-9a-f]{{64}}"
                             f".*Delete it"):
        ds.load_dataset("faces", download=False)
    assert issubclass(ds.DataFileError, ValueError)


@pytest.mark.parametrize("name", ["faces", "coil20", "fmnist"])
def test_corrupted_real_file(name, empty_data):
    filename = FILE_OF[name]
    data = bytearray(real_file(filename).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (empty_data / filename).write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(ds.DataFileError, match=f"{re.escape(filename)}.*expected SHA-256 "
                                               f"{ds.FILE_SHA256[filename]}.*got {actual}"):
        ds.load_dataset(name, download=False)


def test_truncated_real_npz(empty_data):
    filename = FILE_OF["fmnist"]
    data = real_file(filename).read_bytes()
    (empty_data / filename).write_bytes(data[: len(data) // 2])
    with pytest.raises(ds.DataFileError, match=f"{re.escape(filename)}.*could not be read"):
        ds.load_dataset("fmnist", download=False)


def test_truncated_unverifiable_npz(empty_data):
    # The CAVE rebuild has no hash: a loader exception itself must become a DataFileError.
    buf = io.BytesIO()
    np.savez(buf, X=np.zeros((1440, 1024), np.uint8), y=np.repeat(np.arange(1, 21), 72))
    (empty_data / ds.COIL20_CAVE_FILE).write_bytes(buf.getvalue()[:5000])
    with pytest.raises(ds.DataFileError, match=f"{ds.COIL20_CAVE_FILE}.*could not be read"):
        with pytest.warns(UserWarning):
            ds.load_dataset("coil20", download=False)


def test_file_changed_after_verification_is_rechecked(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    target = folder / FILE_OF["coil20"]
    shutil.copyfile(real_file(FILE_OF["coil20"]), target)
    monkeypatch.setenv(DATA_ENV, str(folder))
    misses = ds._sha256.cache_info().misses
    ds.load_dataset("coil20", download=False)
    ds.load_dataset("coil20", download=False)
    assert ds._sha256.cache_info().misses == misses + 1  # hashed once for this (path, mtime)
    data = bytearray(target.read_bytes())
    data[1000] ^= 0x01
    target.write_bytes(bytes(data))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(ds.DataFileError, match="coil20_32x32.npz"):
        ds.load_dataset("coil20", download=False)


# ---- downloads (from file:// fixtures; never the network) ---------------------------------

def _no_leftovers(folder, *keep):
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def test_download_faces(tmp_path, monkeypatch):
    real_file(FILE_OF["faces"])
    expected = ds.load_dataset("faces", download=False)
    src = tmp_path / "src" / "5976027"
    src.parent.mkdir()
    shutil.copyfile(REAL_DATA / "olivettifaces.mat", src)
    dst = tmp_path / "cache" / "sub"  # does not exist yet
    monkeypatch.setitem(ds.URLS, "olivetti", src.as_uri())
    monkeypatch.setenv(DATA_ENV, str(dst))
    X, y = ds.load_dataset("faces", download=True)
    _no_leftovers(dst, "olivettifaces.mat")
    assert sha256(dst / "olivettifaces.mat") == ds.FILE_SHA256["olivettifaces.mat"]
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(y, expected[1])


def test_download_failure_names_file_and_url(empty_data, monkeypatch):
    url = (empty_data.parent / "no-such-file.mat").as_uri()
    monkeypatch.setitem(ds.URLS, "olivetti", url)
    with pytest.raises(ds.DownloadError) as info:
        ds.load_dataset("faces", download=True)
    # the file, the folder looked in and the URL tried, in that order
    assert re.search(f"olivettifaces.mat.*{re.escape(str(empty_data))}.*{re.escape(url)}",
                     str(info.value))
    _no_leftovers(empty_data)


def test_data_folder_that_is_a_file_is_named(tmp_path, monkeypatch):
    """METANMF_DATA naming a file: one clear error naming the variable and its value, from
    every entry point (a download used to fail with a raw FileExistsError)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv(DATA_ENV, "afile")
    message = "METANMF_DATA='afile' is not a folder but a file"
    for call in (lambda: ds.load_dataset("faces", download=True),
                 lambda: ds.load_dataset("faces", download=False),
                 lambda: ds.fetch(["faces"]), lambda: ds.missing_files()):
        with pytest.raises(ds.DataFolderError, match=re.escape(message)):
            call()
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_failed_download_creates_no_data_folder(tmp_path, monkeypatch):
    """A data folder that does not exist is created only when a file is saved in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "new/data")
    with pytest.raises(ds.DownloadError, match="'olivettifaces.mat' is not in new/data"):
        ds.load_dataset("faces", download=True)
    with pytest.raises(ds.MissingDataError, match="is not in new/data"):
        ds.fetch(["faces"])
    assert list(tmp_path.iterdir()) == []
    # a folder that existed stays, even when empty
    (tmp_path / "new").mkdir()
    with pytest.raises(ds.DownloadError):
        ds.load_dataset("faces", download=True)
    assert [p.name for p in tmp_path.iterdir()] == ["new"] and not any(
        (tmp_path / "new").iterdir())


def test_missing_file_message_shows_the_folder_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "mydata")
    with pytest.raises(FileNotFoundError) as info:
        ds.load_dataset("faces", download=False)
    assert "was not found in mydata." in str(info.value)
    assert str(tmp_path) not in str(info.value)


def test_download_of_wrong_content_is_not_kept(empty_data, monkeypatch):
    src = empty_data.parent / "fake.mat"
    from scipy.io import savemat
    savemat(src, {"faces": np.zeros((4096, 400), np.uint8)})
    monkeypatch.setitem(ds.URLS, "olivetti", src.as_uri())
    with pytest.raises(ds.DataFileError, match="olivettifaces.mat.*rejected.*content digest"):
        ds.load_dataset("faces", download=True)
    _no_leftovers(empty_data)


def _idx_bytes(arr):
    arr = np.asarray(arr)
    code = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}[
        arr.dtype.str[1:]]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    ints = rng.integers(-10**6, 10**6, size=(3, 4), dtype=np.int32)
    for arr in (images, ints, np.arange(7, dtype=np.uint8)):
        path = tmp_path / "a.idx"
        data = _idx_bytes(arr)
        path.write_bytes(gzip.compress(data) if compress else data)
        out = ds._read_idx(path)
        assert out.shape == arr.shape and out.dtype == arr.dtype.newbyteorder("=")
        np.testing.assert_array_equal(out, arr)
    path.write_bytes(_idx_bytes(images)[:-1])
    with pytest.raises(ValueError, match="bytes"):
        ds._read_idx(path)
    path.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        ds._read_idx(path)


def _serve_fmnist(tmp_path, monkeypatch, images, labels):
    src = tmp_path / "src"
    src.mkdir(parents=True)
    (src / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(images), 1))
    (src / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(labels), 1))
    monkeypatch.setitem(ds.URLS, "fmnist_train_images",
                        (src / "train-images-idx3-ubyte.gz").as_uri())
    monkeypatch.setitem(ds.URLS, "fmnist_train_labels",
                        (src / "train-labels-idx1-ubyte.gz").as_uri())


def test_download_fmnist_synthetic_is_rejected(tmp_path, empty_data, monkeypatch):
    n = ds.FMNIST_N_OFFLINE + 10
    _serve_fmnist(tmp_path, monkeypatch, np.zeros((n, 28, 28), np.uint8),
                  np.arange(n, dtype=np.uint8) % 10)
    with pytest.raises(ds.DataFileError, match="fashion_mnist_train_first8226.npz.*rejected"):
        ds.load_dataset("fmnist", download=True)
    _no_leftovers(empty_data)
    # too few images: a clear error, nothing kept
    _serve_fmnist(tmp_path / "small", monkeypatch, np.zeros((20, 28, 28), np.uint8),
                  np.zeros(20, np.uint8))
    with pytest.raises(ds.DataFileError, match="at least 8226"):
        ds.load_dataset("fmnist", download=True)
    _no_leftovers(empty_data)


def test_download_fmnist_from_idx(tmp_path, empty_data, monkeypatch):
    # IDX files holding the official first 8226 images (and 5 more, which must be dropped):
    # the rebuilt npz differs as a file but passes the content digest.
    with np.load(real_file(FILE_OF["fmnist"])) as z:
        X, y = z["X"], z["y"]
    extra = np.full((5, 784), 7, np.uint8)
    _serve_fmnist(tmp_path, monkeypatch, np.vstack([X, extra]).reshape(-1, 28, 28),
                  np.concatenate([y, np.zeros(5, np.int64)]).astype(np.uint8))
    got, gy = ds.load_dataset("fmnist", download=True)
    _no_leftovers(empty_data, FILE_OF["fmnist"])
    monkeypatch.setenv(DATA_ENV, str(REAL_DATA))
    want, wy = ds.load_dataset("fmnist", download=False)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(gy, wy)


def _coil_zip(path, value):
    with zipfile.ZipFile(path, "w") as zf:
        for obj in range(1, 21):
            for pose in range(72):
                from PIL import Image
                buf = io.BytesIO()
                Image.fromarray(np.full((16, 16), value(obj, pose), np.uint8)).save(buf, "PNG")
                zf.writestr(f"coil-20-proc/obj{obj}__{pose}.png", buf.getvalue())


def test_download_coil20_from_cave(tmp_path, empty_data, monkeypatch):
    def value(obj, pose):
        return 3 * pose + obj
    _coil_zip(tmp_path / "coil.zip", value)
    monkeypatch.setitem(ds.URLS, "coil20_proc", (tmp_path / "coil.zip").as_uri())
    with pytest.warns(UserWarning, match="NOT byte-identical"):
        X, y = ds.load_dataset("coil20", download=True)
    _no_leftovers(empty_data, ds.COIL20_CAVE_FILE)
    # lexicographic file-name order, as in the authors' array
    names = sorted(f"obj{o}__{p}.png" for o in range(1, 21) for p in range(72))
    pairs = [tuple(map(int, re.findall(r"\d+", n))) for n in names]
    assert y.tolist() == [o for o, _ in pairs]
    assert y[:72].tolist() == [10] * 72
    raw = np.array([value(o, p) for o, p in pairs], float)
    np.testing.assert_allclose(X, np.repeat(_scaled(raw[:, None]), 1024, axis=1), atol=1e-12)


def test_verified_coil20_is_preferred(empty_data, monkeypatch):
    # with both files present, the verified authors' array is used, without a warning
    os.symlink(real_file(FILE_OF["coil20"]), empty_data / FILE_OF["coil20"])
    buf = io.BytesIO()
    np.savez(buf, X=np.zeros((1440, 1024), np.uint8), y=np.repeat(np.arange(1, 21), 72))
    (empty_data / ds.COIL20_CAVE_FILE).write_bytes(buf.getvalue())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        X2, _ = ds.load_dataset("coil20", download=False)
    monkeypatch.setenv(DATA_ENV, str(REAL_DATA))
    np.testing.assert_array_equal(X2, ds.load_dataset("coil20", download=False)[0])


def test_download_movielens(tmp_path, empty_data, monkeypatch):
    r = np.load(real_file(FILE_OF["movielens"]))
    table = np.column_stack([r[k] for k in ("user", "item", "rating", "timestamp")])
    text = io.BytesIO()
    np.savetxt(text, table, fmt="%d", delimiter="\t")
    with zipfile.ZipFile(tmp_path / "ml-100k.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/u.data", text.getvalue())
        zf.writestr("ml-100k/README", "fixture")
    monkeypatch.setitem(ds.URLS, "movielens100k", (tmp_path / "ml-100k.zip").as_uri())
    got = ds.load_movielens(download=True)
    _no_leftovers(empty_data, FILE_OF["movielens"])
    for k in got:
        np.testing.assert_array_equal(got[k], r[k])
