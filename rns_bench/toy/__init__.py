"""The synthetic world: the generator (``world``), its dataset on disk (``files``, registered as the
``toy`` dataset by ``dataset``) and the ``toy_vlm`` backbone that sees it (``backbone``).

Importing the package registers both names; ``rns_bench.runs`` does so for every run.
"""

from rns_bench.toy import backbone, dataset  # noqa: F401  (registrants)
