"""Pure array and tensor operations shared by every layer above (shared/design.md: ``ops``)."""
