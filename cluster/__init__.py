"""How Dask gets workers (local, Slurm, PBS) and how each launches MPI ranks."""
