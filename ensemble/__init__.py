"""The sweep runner: spec, plan, work directories, results store, provenance, status."""
