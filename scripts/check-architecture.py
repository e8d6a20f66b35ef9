#!/usr/bin/env python3
"""Checks that docs/architecture.md matches Package.swift: every library target is in the table, with exactly the
project targets it may import, and no target depends on one that comes later in the table (the path of a webhook)."""
import json
import re
import subprocess
import sys

dump = json.loads(subprocess.check_output(["swift", "package", "dump-package"], text=True))
targets = {t["name"]: t for t in dump["targets"] if t["type"] in ("regular", "executable", "system")}


def deps(t):
    out = set()
    for d in t.get("dependencies", []):
        for kind in ("byName", "target"):
            if kind in d:
                name = d[kind][0]
                if name in targets:
                    out.add(name)
    return out


short = {n: n.replace("Bridge", "", 1) if n.startswith("Bridge") else n for n in targets}
doc = open("docs/architecture.md", encoding="utf-8").read()
rows = re.findall(r"^\| `([\w-]+)` \| `(?:Sources|Tests)/[\w-]+/` \| [^|]* \| ([^|]*) \|", doc, re.M)
problems = []
order = [name for name, _ in rows]
for name in targets:
    if name not in order:
        problems.append(f"docs/architecture.md: target {name} is missing from the table")
for name, allowed in rows:
    if name not in targets:
        problems.append(f"docs/architecture.md: {name} is not a target in Package.swift")
        continue
    text = allowed.strip()
    if text in ("none",):
        listed = set()
    elif text == "all of the above":
        listed = set(order[: order.index(name)]) - {"cloudthread-bridge", "BridgeCI"}
    elif text == "all":
        listed = set(order[: order.index(name)])
    else:
        words = [w.strip() for w in text.split(",")]
        listed = {n for n in targets if short[n] in words or n in words}
    actual = deps(targets[name])
    if listed != actual:
        problems.append(f"{name}: docs say {sorted(listed)}, Package.swift says {sorted(actual)}")
    for d in actual:
        if d in order and order.index(d) > order.index(name):
            problems.append(f"{name} depends on {d}, which comes later in the path")
for p in problems:
    print(p)
print(f"architecture: {len(rows)} targets checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
