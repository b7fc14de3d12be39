"""`make perf`: throughput and scale figures (RNS training, extraction, region maps, label maps, banks)."""
