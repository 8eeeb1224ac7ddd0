"""Storage: FalkorDB (the record), the vector stores, and the filter they share."""
