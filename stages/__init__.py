"""The physics: particle database, initial structure, force fields and the LAMMPS stages."""
