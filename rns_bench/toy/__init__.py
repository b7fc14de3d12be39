"""The synthetic world: the generator (``world``), its dataset on disk (``files``, registered as the
``toy`` dataset by ``dataset``) and the ``toy_vlm`` backbone that sees it (``backbone``).

Importing the package registers both names; a registry imports it on its first miss (the
``rns_bench.components`` entry point in pyproject.toml), so no caller imports it for that.
"""

from rns_bench.toy import backbone, dataset  # noqa: F401  (registrants)
