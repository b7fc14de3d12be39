"""Support data: the bank, the partial-support protocol, pixel-level support, text with missing names."""
