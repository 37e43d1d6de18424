"""The builds: a source's data through a corruption into a noisebench file, one module per file kind
(clean and label-flip images, corrupted images, ψ, the CIFAR-10-C test-only suite) and the split record
every file of one source shares."""
