"""Activation names without the activations: aliases, normalisation and de-duplication of name lists.

Kept apart from the activation modules and `resolve.py` of this package (which import torch) so that parsing a
grid or a study preset (`noisebench study list`) reads names without loading torch.
"""

from __future__ import annotations

import sys

ALIASES = {
    "silu": "swish",
    "leakyrelu": "leaky_relu",
    "lrelu": "leaky_relu",
    "m_tact": "mtact",
}


def normalize_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    return ALIASES.get(key, ALIASES.get(key.replace("_", ""), key))


def dedupe_activations(names: list[str], what: str = "--activation") -> list[str]:
    """Names in order without repeats (registry aliases count as one); repeats are dropped with a note."""

    out, seen, dups = [], {}, []
    for n in names:
        key = n.strip() if ":" in n else normalize_name(n)
        if key in seen:
            dups.append(f"{n!r} (= {seen[key]!r})")
            continue
        seen[key] = n
        out.append(n)
    if dups:
        print(f"note: {what} lists {', '.join(list(dict.fromkeys(dups))[:5])} more than once; training each once",
              file=sys.stderr)
    return out
