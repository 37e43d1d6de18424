"""The report's tables as LaTeX (booktabs rules: \\toprule, \\midrule, \\bottomrule), one `table`
environment per table with its caption (statistics named) and a label; no Python dependency.
The document needs \\usepackage{booktabs} (and \\usepackage[T1]{fontenc} for the usual fonts)."""

from __future__ import annotations

import re

from noisebench.harness.report.tables import Table

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_UNICODE = {"±": r"$\pm$", "−": r"$-$", "—": "---", "–": "--", "Δ": r"$\Delta$", "†": r"$^\dagger$",
            "§": r"\S{}", "·": r"$\cdot$", "ψ": r"$\psi$", "√": r"$\surd$", "×": r"$\times$",
            "≤": r"$\leq$", "≥": r"$\geq$", "<": r"$<$", ">": r"$>$"}


def escape(text: str) -> str:
    """Plain text (with the report's `**bold**` and `code` marks) to LaTeX."""
    out = []
    for part in re.split(r"(\*\*.+?\*\*|`[^`]+`)", text):
        if part.startswith("**") and part.endswith("**") and len(part) > 4:
            out.append(r"\textbf{" + escape(part[2:-2]) + "}")
        elif part.startswith("`") and part.endswith("`") and len(part) > 2:
            out.append(r"\texttt{" + escape(part[1:-1]) + "}")
        else:
            out.append("".join(_UNICODE.get(ch) or _SPECIAL.get(ch) or ch for ch in part))
    return "".join(out)


def _label(key: str) -> str:
    return "tab:" + re.sub(r"[^A-Za-z0-9.-]+", "-", key).strip("-")


def table_tex(t: Table) -> str:
    cols = "l" + "r" * (len(t.header) - 1)
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small",
             r"\caption{" + escape(t.title + ". " + t.caption) + "}", r"\label{" + _label(t.key) + "}",
             r"\begin{tabular}{" + cols + "}", r"\toprule",
             " & ".join(escape(h) for h in t.header) + r" \\", r"\midrule"]
    lines += [" & ".join(escape(c) for c in row) + r" \\" for row in t.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if t.notes:
        lines += [r"\par\smallskip\footnotesize"] + [escape(n) + r"\par" for n in t.notes]
    lines += [r"\end{table}", ""]
    return "\n".join(lines)


def build_latex(tables: list[Table]) -> str:
    head = ["% noisebench report tables (booktabs). In the preamble: \\usepackage{booktabs}", ""]
    return "\n".join(head + [table_tex(t) for t in tables])
