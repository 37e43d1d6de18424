"""The Python API behind `import noisebench as nb` (the package's lazy names point here): arrays, builds,
corruptions and transforms, evaluation, studies and exports."""
