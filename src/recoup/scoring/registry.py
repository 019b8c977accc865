"""The model registry: train a named model with an out-of-time holdout, keep its artefact (sha256-checked)
and model card in the lake, and promote one champion per name.

Artefacts live at ``{lake}/models/{name}/v{version}/model.joblib`` with ``card.md`` beside them. The
``model_version`` row is flushed before anything is written there, so two trainers racing for the same
version number block on the unique key instead of overwriting each other's files. Services never commit.

Where things are: training in :mod:`~recoup.scoring.registry_train`, holdout metrics and the model card in
:mod:`~recoup.scoring.registry_card`, reading and promotion in :mod:`~recoup.scoring.registry_store`. This
module re-exports them.
"""

from recoup.scoring.registry_card import N_BINS, evaluate_holdout, model_card
from recoup.scoring.registry_store import (
    Estimator,
    Holdout,
    ModelRegistryError,
    champion,
    check_promote,
    do_promote,
    get_version,
    list_versions,
    load_model,
)
from recoup.scoring.registry_train import HOLDOUT_SHARE, NON_FEATURES, do_train

__all__ = [
    "HOLDOUT_SHARE",
    "NON_FEATURES",
    "N_BINS",
    "Estimator",
    "Holdout",
    "ModelRegistryError",
    "champion",
    "check_promote",
    "do_promote",
    "do_train",
    "evaluate_holdout",
    "get_version",
    "list_versions",
    "load_model",
    "model_card",
]
