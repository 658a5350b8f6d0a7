"""Raw data in, features out: source contracts, synthetic data, ingest, and (later) the Spark transforms."""
