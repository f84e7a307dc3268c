"""The experiment layer: the catalogue of models and ablations, the settings and cells of a
grid, the runner that fills the result store, the store itself, and the statistics, reports
and replications read from it.

``python -m metanmf_lab.grid`` runs (part of) the grid into the store (:mod:`.cli`).
"""

from .ablations import (ablation_applies, ablation_cells, ablation_cost, ablation_grid,
                        ablation_settings, entry_cells)
from .catalogue import (ABLATIONS, ALL_MODELS, CATALOGUE, FAIR_BASELINES, FAIR_MODELS,
                        HEADLINE_PAIRS, MODELS, PAIRS, THESIS_RANKS, ModelInfo, model_info,
                        model_kind, parse_model)
from .cells import (CONDITIONS, LATER_FIELDS, Cell, Settings, check_ranks,
                    equal_compute_iterations, make_grid, resolve_noise)
from .models import CellResult, fit_cell, load_cell_data, make_base, make_model
from .runner import run_cell, run_grid, stored_rows
from .spine import (GridInterrupted, SettingsBase, Terminated, interrupt_exit_code, provenance,
                    run_missing, sigterm_as_interrupt)
from .store import ResultStore, StoreError

__all__ = [
    "ABLATIONS", "ALL_MODELS", "CATALOGUE", "CONDITIONS", "Cell", "CellResult",
    "FAIR_BASELINES", "FAIR_MODELS", "ModelInfo", "model_info",
    "GridInterrupted", "HEADLINE_PAIRS", "LATER_FIELDS", "MODELS", "PAIRS", "ResultStore",
    "Settings", "SettingsBase", "StoreError", "THESIS_RANKS", "Terminated", "ablation_applies",
    "ablation_cells", "ablation_cost", "ablation_grid", "ablation_settings", "check_ranks",
    "entry_cells", "equal_compute_iterations", "fit_cell", "interrupt_exit_code",
    "load_cell_data", "make_base", "make_grid", "make_model", "model_kind", "parse_model",
    "provenance", "resolve_noise", "run_cell", "run_grid", "run_missing", "sigterm_as_interrupt",
    "stored_rows",
]
