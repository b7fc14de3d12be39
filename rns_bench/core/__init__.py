"""Leaves every layer may use: errors, registries, typed options, atomic files, provenance."""
