"""Release: the model package with its lineage, the one predict path, the gate and the registry."""
