"""Per-support-set hyperparameter tuning of the offline baselines with Optuna (paper supp. 6.4).

``python -m rns_bench.tuning`` runs the studies (``configs/tune.yaml``; ``tune``); ``study`` holds the
search spaces and the resumable study, ``objective`` a trial's score. A run picks the best parameters
up through ``rns_bench.runs.plan``, which needs no Optuna.
"""
