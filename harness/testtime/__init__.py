"""The test-time protocol (train clean, evaluate on corrupted test sets), its scores, and the evaluation of
models noisebench did not train."""
