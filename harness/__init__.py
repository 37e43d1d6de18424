"""noisebench.harness"""
