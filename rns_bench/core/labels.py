"""Label-map constants shared by datasets, support, metrics and methods."""

IGNORE_INDEX = 255  # label value that no metric counts and no method trains on (mmseg's convention)
