"""Microstructure metrics on voxel images: pure functions, arrays in, numbers or arrays out."""
