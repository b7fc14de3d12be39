"""Per-support-set hyperparameter tuning of the offline baselines with Optuna (paper supp. 6.4).

``python -m rns_bench.tuning`` runs the studies (``configs/tune.yaml``); the bench picks the
best parameters up with :func:`tuned_options`. Optuna is imported only by the study modules,
so the lookup works without it.
"""

from rns_bench.tuning.params import best_params_path, read_best_params, tuned_options, write_best_params

__all__ = ["best_params_path", "read_best_params", "tuned_options", "write_best_params"]
