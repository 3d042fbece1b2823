"""Data: column roles read from conf/data, the schema built from them, loading and adoption."""
