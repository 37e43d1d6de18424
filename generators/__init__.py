"""noisebench.generators"""
