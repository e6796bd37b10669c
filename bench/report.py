"""One table from bench/results/*.json: stage, peer, rates, ratio, goal, met.

Writes bench/results/summary.md (the table docs/performance.md quotes) and prints it.
    python -m bench.report
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path("bench/results")


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def rows() -> list[list[str]]:
    out = []
    if m := _load("match"):
        r = m["texts_per_s"]
        out.append(["1 match", "MetaCLIP substring loop", f"{r['ours']:,.0f} texts/s",
                     f"{r['metaclip_naive_loop']:,.1f}", f"{m['ratio_vs_naive']:,.0f}x",
                     ">= 1000x", _yes(m["ratio_vs_naive"] >= 1000)])  # fmt: skip
        out.append(["1 match", "pyahocorasick loop", f"{r['ours']:,.0f} texts/s",
                     f"{r['plain_pyahocorasick']:,.0f}", f"{m['ratio_vs_plain']:.2f}x",
                     ">= 1.0x", _yes(m["ratio_vs_plain"] >= 1.0)])  # fmt: skip
        if scaling := m.get("ray_workers"):
            rate, top = scaling["texts_per_s"], max(scaling["texts_per_s"], key=int)
            eff = scaling["efficiency"]
            out.append(["1 match", f"1 Ray worker vs {top}", f"{rate[top]:,.0f} texts/s",
                        f"{rate['1']:,.0f}", f"efficiency {eff:.2f}", "linear (~1.0)",
                        _yes(eff >= 0.85)])  # fmt: skip
    if h := _load("harvest"):
        peer, best = min(h["peers"].items(), key=lambda kv: kv[1]["seconds"])
        out.append(["2 harvest", peer, f"{h['ours']['pages_per_s']:,.0f} pages/s",
                    f"{best['pages_per_s']:,.0f}", f"{h['ratio']:.2f}x", ">= 3x per core",
                    _yes(h["met"])])  # fmt: skip
    if d := _load("download"):
        r = d["images_per_s"]
        out.append(["3 download", "img2dataset 1.47", f"{r['ours']:,.0f} images/s",
                    f"{r['img2dataset']:,.0f}", f"{d['ratio']:.2f}x", ">= 1.0x",
                    _yes(d["met"])])  # fmt: skip
    if n := _load("dedup"):
        last = n["sizes"][-1]
        brute = [s for s in n["sizes"] if "all_pairs_s" in s][-1]
        out.append(["4 near-dup", "all pairs", f"{last['n']:,} in {last['ours_s']} s",
                    f"{brute['n']:,} in {brute['all_pairs_s']} s",
                    f"exponent {n['fitted_exponent']} (all pairs {n['all_pairs_fitted_exponent']})",
                    "exponent <= 1.1", _yes(n["met"])])  # fmt: skip
    if sc := _load("shards_scale"):
        big = sc["sizes"][-1]
        ok = sc["exponent"] <= 1.1 and sc["driver_peak_ratio"] <= 1.2
        ok = ok and big["driver_peak_bytes"] <= 2**30 and sc["tasks_within_memory"]
        ok = ok and all(
            s["near_dup_recall"] >= 0.98 and s["near_dup_precision"] >= 0.99 for s in sc["sizes"]
        )
        out.append(["4b shards decision", "one process (not run: all rows in one driver)",
                    f"{big['rows']:,} rows in {big['seconds']} s",
                    f"driver {big['driver_peak_bytes'] / 2**30:.2f} GiB",
                    f"exponent {sc['exponent']}", "exponent <= 1.1, driver <= 1 GiB",
                    _yes(ok)])  # fmt: skip
    if lo := _load("loader"):
        r = lo["samples_per_s"]
        out.append(["5 loader", "raw decode + resize", f"{r['loader']:,.0f} samples/s",
                    f"{r['raw_decode_resize']:,.0f}", f"{lo['ratio']:.2f}x", ">= 0.9x",
                    _yes(lo["met"])])  # fmt: skip
    if t := _load("train"):
        r = t["samples_per_s"]
        out.append(["6 trainer", "open_clip_train.main", f"{r['ours']:,.1f} samples/s",
                    f"{r['open_clip_train']:,.1f}", f"{t['ratio']:.2f}x", ">= 1.0x",
                    _yes(t["met"])])  # fmt: skip
    if e := _load("end_to_end"):
        parts = ", ".join(f"{k} {v['seconds'] / 60:.1f}" for k, v in e["stages"].items())
        out.append(["7 end to end", "-", f"{e['minutes']:.1f} min ({parts})",
                    "-", f"peak {e['peak_pss_gib']} GiB PSS", "<= 15 min",
                    _yes(e["met"])])  # fmt: skip
    return out


def main() -> None:
    stamp = next((d for d in map(_load, ("end_to_end", "train", "match")) if d), None)
    head = ["benchmark", "peer", "ours", "peer rate", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows()]
    if stamp:
        m = stamp["machine"]
        python = m.get("python", "?")
        lines.append(f"\n{stamp['date'][:10]}, {m['cores']} cores {m['cpu']}, Python {python}")
    text = "\n".join(lines) + "\n"
    (RESULTS / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
