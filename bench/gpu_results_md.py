"""Render the JSON of bench/gpu_check.py as the markdown of bench/RESULTS.md's GPU section.

    python bench/gpu_results_md.py bench/gpu_check.json > gpu_section.md
"""

from __future__ import annotations

import json
import sys


def _f(v, fmt="{:.2f}", none="—"):
    return none if v is None else fmt.format(v)


_CPU = {"on": False}


def _goal(met) -> str:
    if _CPU["on"]:
        return "n/a (CPU dry run: the goals are for a GPU)"
    return "**met**" if met else "**missed**"


def render(r: dict) -> str:
    dev = r.get("gpu") or r.get("device")
    _CPU["on"] = not r.get("gpu")
    lines = [f"### Device check — {dev}{' (quick dry run)' if r.get('quick') else ''}", "",
             f"Date {r.get('date')}; host {r.get('host', {}).get('cpu')} ({r.get('host', {}).get('cpus')} CPUs); "
             + ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items() if v)
             + f"; total {r.get('total_s')} s (`bench/gpu_check.sh`).", ""]
    t = r.get("tests")
    if t:
        lines += [f"- gpu_path tests: {t.get('summary') or t.get('note')}", ""]
    tp = r.get("throughput")
    if tp:
        lines += [f"Training throughput, {tp['model']}, {tp['images']:,} synthetic CIFAR-shaped images, {tp['epochs']} "
                  f"epoch(s), last-epoch images/s; ours = resident data + bf16 + channels_last"
                  f"{' + compile' if tp['compile'] else ''} (on CUDA), reference = fp32 DataLoader loop:", "",
                  "| activation | ours img/s | reference img/s | ours/ref | ours acc | ref acc |", "|---|---:|---:|---:|---:|---:|"]
        for x in tp["rows"]:
            lines.append(f"| {x['activation']} | {x['ours_img_s']:.0f} | {_f(x['ref_img_s'], '{:.0f}')} | "
                         f"{_f(x['ratio'], '{:.2f}x')} | {_f(x['ours_acc'], '{:.3f}')} | {_f(x['ref_acc'], '{:.3f}')} |")
        lines += ["", f"Goal training ≥ 3× the plain loop (ReLU): {_f(tp['ratio_relu'], '{:.2f}x')} — {_goal(tp['met'])}"
                  f" (accuracy gap ours − ref {_f(tp['accuracy_gap'], '{:+.3f}')})."]
    ov = r.get("activation_overhead")
    if ov:
        s = ", ".join(f"{a} {v * 100:+.1f}%" for a, v in ov["slowdown_vs_relu"].items())
        lines += [f"Goal TAct/mTAct ≤ 15% slower than ReLU, compiled: slowdown {s}"
                  f"{'' if ov['compiled'] else ' (eager: not compiled in this run)'} — {_goal(ov['met'])}.", ""]
    pb = r.get("psi_build")
    if pb:
        lines += [f"ψ build (ψ = {pb['level']:g}, {pb['images']:,} images, official-format fixture): torch sampler on "
                  f"{pb['device']} {pb['torch_s']:.1f} s; table sampler on the CPU {pb['tables_cpu_s']:.1f} s. "
                  f"Sampler recorded: \"{pb['sampler']}\".", ""]
    st = r.get("study")
    if st:
        c1, c2 = st.get("call1", {}), st.get("call2", {})
        lines += [f"ψ study slice (`noisebench robustness`, {st['epochs']} epoch(s)): first call {c1.get('trained')} runs "
                  f"in {c1.get('s', 0):.0f} s; second call {c2.get('trained')} trained, {c2.get('skipped')} resumed from "
                  f"the database in {c2.get('s', 0):.0f} s ({'resumes' if st.get('resumed') else 'did NOT resume'})."]
        pr = st.get("projection")
        if pr:
            lines += [f"Projected whole ψ study ({pr['runs']} runs × 30 epochs, {pr['model']}; {pr['basis']}): "
                      f"{pr['per_run_s']:.0f} s per run, **{pr['total_h']:.2f} device-hours** on this device "
                      f"(goal on one H100: < {pr['goal_h']:g} h — {_goal(pr['total_h'] < pr['goal_h'])})."]
        lines.append("")
    if r.get("errors"):
        lines += ["Stage errors: " + "; ".join(f"{k}: {v}" for k, v in r["errors"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        sys.exit("usage: python bench/gpu_results_md.py bench/gpu_check.json   (renders bench/gpu_check.sh's JSON as markdown)")
    try:
        doc = json.loads(open(sys.argv[1]).read())
    except (OSError, ValueError) as e:
        sys.exit(f"error: cannot read {sys.argv[1]}: {e}")
    print(render(doc))
