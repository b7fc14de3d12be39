"""Datasets, readers, support sampling and the few-shot DataModule."""
