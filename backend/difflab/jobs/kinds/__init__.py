"""Kinds that belong to the job system itself (diagnostics)."""
