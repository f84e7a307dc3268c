"""The experiment spine (metanmf_lab.grid.spine): settings hashes that key the stored rows,
provenance, and the resumable runner every experiment computes its missing cells with."""

import json
import re
from dataclasses import dataclass

import pytest

from metanmf_lab._config import ALGORITHM_VERSION, RESULTS_DIR, __version__
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.grid.cells import Settings
from metanmf_lab.grid.spine import (GridInterrupted, SettingsBase, environment, provenance,
                                    run_missing)
from metanmf_lab.grid.store import COUNT, NUMBER, TEXT, UTC, ResultStore, settings_hash
from metanmf_lab.related import metaprior as mp
from metanmf_lab.related.metaprior import ML100KSettings, NMFPriorSettings, TrainingSettings
from metanmf_lab.related.mlam import MLAMSettings

# -- settings hashes ----------------------------------------------------------------------------

#: Settings hashes computed before the spine existed (the settings classes' own code). They
#: are the keys of the stored rows (``settings_hash``; data/results/*.settings.json: Settings()
#: keys results.csv and basis_measures.csv, ML100KSettings() the MovieLens baselines,
#: MLAMSettings() mlam.csv; the others enter the keys of test_derived_hashes_are_unchanged or
#: exercise LATER_FIELDS): a change here orphans every committed result.
DEFAULT_HASHES = {
    "Settings": (Settings(), "3f116bcabe4d"),
    "TrainingSettings": (TrainingSettings(), "2569afa914ab"),
    "ML100KSettings": (ML100KSettings(), "99f7a613928b"),
    "NMFPriorSettings": (NMFPriorSettings(), "f2732dd7a7d1"),
    "MLAMSettings": (MLAMSettings(), "d174207ce78b"),
    "Settings with later fields": (
        Settings(noise_scale=2.0, protocol_overrides=(("transfer", "running_sum"),)),
        "97e5c2e3c962"),
    "ML100KSettings smoke": (PROFILES["smoke"].ml100k, "15bfab5e811c"),
}


@pytest.mark.parametrize("name", DEFAULT_HASHES)
def test_settings_hashes_are_unchanged(name):
    settings, expected = DEFAULT_HASHES[name]
    assert settings.hash == expected
    assert type(settings).from_json(settings.to_json()) == settings


def test_derived_hashes_are_unchanged():
    # computed before the spine existed: the keys of the stored rows of the meta-learned prior
    # (MovieLens; the smoke profile's are not stored) and of the NMF version
    assert ML100KSettings().prior_hash == "558c084a0df0"
    assert PROFILES["smoke"].ml100k.prior_hash == "51a70d7ce9dc"
    assert mp._nmf_provenance(NMFPriorSettings(), Settings())[0] == "8cd71dd6a690"


def _stored_settings(name):
    path = RESULTS_DIR / f"{name}.settings.json"
    if not path.exists():
        pytest.skip(f"no committed {path.name}")
    return json.loads(path.read_text())


@pytest.mark.parametrize("name, cls", [("results", Settings), ("basis_measures", Settings),
                                       ("mlam", MLAMSettings)])
def test_every_stored_settings_text_round_trips(name, cls):
    """Each committed settings text is what its settings write and hash, to the byte."""
    for h, text in _stored_settings(name).items():
        settings = cls.from_json(text)
        assert settings.to_json() == text and settings.hash == h


def test_every_stored_related_settings_text_round_trips():
    for h, text in _stored_settings("metaprior_ml100k").items():
        settings = ML100KSettings.from_json(text)
        if "mf_regs" in json.loads(text):  # the baselines' rows
            assert (settings.to_json(), settings.hash) == (text, h)
        else:  # the meta-learned prior's rows
            assert (settings.prior_json(), settings.prior_hash) == (text, h)
    for h, text in _stored_settings("metaprior_nmf").items():
        both = json.loads(text)
        prior = NMFPriorSettings.from_json(json.dumps(both["prior"]))
        thesis = Settings.from_json(json.dumps(both["thesis"]))
        assert mp._nmf_provenance(prior, thesis) == (h, text)


@dataclass(frozen=True)
class Toy(SettingsBase):
    VERSION, VERSION_TAG = "7", "toy"
    LATER_FIELDS = {"extra": 0}

    size: int = 3
    grid: tuple = (1.0, 2.0)
    pairs: tuple = ()
    extra: int = 0


def test_settings_base_writes_canonical_json_and_leaves_later_defaults_out():
    toy = Toy()
    assert toy.to_json() == '{"grid":[1.0,2.0],"pairs":[],"size":3}'
    assert toy.hash == settings_hash(toy.to_json(), "7", "toy")
    later = toy.replace(extra=1, pairs=(("a", 1),))
    assert later.to_json() == '{"extra":1,"grid":[1.0,2.0],"pairs":[["a",1]],"size":3}'
    assert later.hash != toy.hash and toy.extra == 0
    assert Toy.from_json(later.to_json()) == later  # arrays come back as tuples
    assert Settings().hash == settings_hash(Settings().to_json(), ALGORITHM_VERSION)


# -- provenance ---------------------------------------------------------------------------------


def test_provenance_has_the_store_columns_and_their_formats():
    p = provenance()
    assert set(p) == {"package_version", "environment", "created_utc"}
    assert p["package_version"] == __version__
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
                        p["created_utc"])
    env = dict(part.split("=", 1) for part in p["environment"].split(";"))
    assert list(env) == ["python", "numpy", "scipy", "scikit-learn", "blas"]
    assert p["environment"] == environment()


def test_provenance_of_a_pytorch_result():
    pytest.importorskip("torch")
    env = dict(part.split("=", 1) for part in provenance(torch=True)["environment"].split(";"))
    assert list(env) == ["python", "numpy", "torch", "cpu"]


# -- run_missing --------------------------------------------------------------------------------

class ToyStore(ResultStore):
    """A store of :class:`Toy` results: one number per cell, with provenance."""

    KEY = ("cell", "settings_hash", "algorithm_version")
    COLUMNS = KEY + ("value", "package_version", "environment", "settings", "created_utc")
    DTYPES = {c: str for c in COLUMNS if c not in ("cell", "value")}
    SORT = ("cell",)
    NAME = "toy store"
    CHECKS = dict(cell=COUNT, settings_hash=TEXT, algorithm_version=TEXT, value=NUMBER,
                  package_version=TEXT, environment=TEXT, settings=TEXT, created_utc=UTC)
    HASH_TAG = Toy.VERSION_TAG

    def key_of(self, row):
        return int(row["cell"]), str(row["settings_hash"]), str(row["algorithm_version"])


def _row(cell, settings=Toy()):
    """The store row of a cell (made up, not computed)."""
    return {"cell": cell, "settings_hash": settings.hash, "algorithm_version": Toy.VERSION,
            "value": cell / 10, "settings": settings.to_json(), **provenance()}


def _key(cell):
    return cell, Toy().hash, Toy.VERSION


class Fake:
    """A compute that records its calls and fails (``exc``) at the cell ``fail_at``."""

    def __init__(self, fail_at=None, exc=KeyboardInterrupt):
        self.calls, self.fail_at, self.exc = [], fail_at, exc

    def __call__(self, cell):
        if cell == self.fail_at:
            raise self.exc()
        self.calls.append(cell)
        return [_row(cell)]


def test_run_missing_computes_only_the_missing_cells(tmp_path):
    store = ToyStore(tmp_path / "r.csv")
    fake = Fake()
    rows = run_missing([0, 1, 1], fake, store, key=_key)
    assert fake.calls == [0, 1] and [r["cell"] for r in rows] == [0, 1]  # once each
    assert sorted(store.load().cell.astype(int)) == [0, 1]
    fake = Fake()
    rows = run_missing([0, 1, 2], fake, store, key=_key)
    assert fake.calls == [2] and len(rows) == 1 and len(store.load()) == 3
    assert run_missing([0, 1, 2], Fake(fail_at=0), store, key=_key) == []  # nothing to do


def test_run_missing_asks_the_experiment_what_its_store_holds(tmp_path):
    store = ToyStore(tmp_path / "r.csv")
    fake = Fake()
    run_missing([0, 1, 2], fake, store, key=lambda s: s, have={1})
    assert fake.calls == [0, 2]


def test_run_missing_checks_before_anything_is_written(tmp_path):
    seen = []

    def refuse(todo):
        seen.append(list(todo))
        raise ImportError("needs something")

    with pytest.raises(ImportError, match="needs something"):
        run_missing([0, 1], Fake(), ToyStore(tmp_path / "r.csv"), key=_key, check=refuse)
    assert seen == [[0, 1]] and list(tmp_path.iterdir()) == []
    run_missing([0], Fake(), ToyStore(tmp_path / "r.csv"), key=_key)
    run_missing([0], Fake(fail_at=0), ToyStore(tmp_path / "r.csv"), key=_key,
                check=refuse)  # nothing missing: no check
    assert len(seen) == 1


def test_run_missing_without_a_store_keeps_nothing(tmp_path):
    rows = run_missing([0, 1], Fake(), None, key=_key)
    assert [r["cell"] for r in rows] == [0, 1]


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError])
def test_an_interrupted_run_keeps_its_rows_and_resumes(tmp_path, exc):
    store = ToyStore(tmp_path / "r.csv")
    with pytest.raises(GridInterrupted if exc is KeyboardInterrupt else exc) as info:
        run_missing(range(5), Fake(fail_at=2, exc=exc), store, key=_key, flush_every=10)
    if exc is KeyboardInterrupt:
        assert info.value.kept == 2 and info.value.store is store
    assert sorted(store.load().cell.astype(int)) == [0, 1]  # written though not yet flushed
    fake = Fake()
    run_missing(range(5), fake, store, key=_key)
    assert fake.calls == [2, 3, 4] and len(store.load()) == 5
