"""noisebench.corruptors"""
