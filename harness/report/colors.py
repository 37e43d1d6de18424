"""One fixed colour per activation in every figure: the built-in activations have a colour of their
own (fixed here, not by their position in a report), any other name gets one from a second palette
chosen by a hash of the name, so the same plug-in is drawn in the same colour in every report."""

from __future__ import annotations

import hashlib

BUILTIN_COLORS = {
    "relu": "#1f77b4", "leaky_relu": "#aec7e8", "prelu": "#17becf", "elu": "#ff7f0e", "sigmoid": "#7f7f7f",
    "tanh": "#8c564b", "softsign": "#c49c94", "swish": "#2ca02c", "mish": "#98df8a", "gelu": "#9467bd",
    "tact": "#d62728", "mtact": "#ff9896",
}
ALIASES = {"silu": "swish", "leakyrelu": "leaky_relu", "lrelu": "leaky_relu", "m_tact": "mtact"}
# tab20b/tab20c-style colours, none of them equal to a built-in colour
OTHER_COLORS = (
    "#393b79", "#5254a3", "#6b6ecf", "#637939", "#8ca252", "#b5cf6b", "#8c6d31", "#bd9e39", "#e7ba52",
    "#843c39", "#ad494a", "#d6616b", "#7b4173", "#a55194", "#ce6dbd", "#3182bd", "#e6550d", "#31a354",
    "#756bb1", "#636363",
)


def activation_color(name: str) -> str:
    """The colour of activation `name` (hex), the same in every figure and every report."""
    key = str(name).strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key in BUILTIN_COLORS:
        return BUILTIN_COLORS[key]
    h = int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:8], "big")
    return OTHER_COLORS[h % len(OTHER_COLORS)]
