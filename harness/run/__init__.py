"""One training run: its configuration and identity, the checks before it trains, its data, the training
loop, model selection on val, and what it leaves besides its metrics."""
