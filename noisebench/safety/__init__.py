"""Safe edges: bounded inputs from users and files (names, sizes, pickles, npz, images), safe output
placement (temp files, atomic renames), terminal-safe text, and signal handling."""
