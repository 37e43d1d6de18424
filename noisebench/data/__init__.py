"""Reading noisebench files from PyTorch: a worker-safe Dataset, a whole-split loader and a torchvision-style
dataset."""
