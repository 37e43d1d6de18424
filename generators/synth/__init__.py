"""The "infinite" hidden-function regression generator (`noisebench synth`): the definition and
streaming build (generator.py), the compiled row kernel (kernel.py) and the keyed Feistel
permutations that shuffle each column without materialising it (permutation.py)."""
