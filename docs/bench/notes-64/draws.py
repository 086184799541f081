#!/usr/bin/env python3
"""The default brick's value for each of issue 9's targets in every draw of run2.sh, judged as
`gfrpc bench` judges a run, and their median (run with the repository's venv)."""

import json
import statistics
from pathlib import Path

from gfrpc.bench.experiment.targets import judge, shown

HERE = Path(__file__).resolve().parent
values: dict[tuple[str, bool], list[float]] = {}
targets = {}
for f in sorted((HERE / "draws").glob("*.json")):
    for j in judge(json.loads(f.read_text())):
        v = dict(j.values).get("sharded x2")
        if v is None:
            continue
        key = (j.target.heading, j.tls)
        values.setdefault(key, []).append(v)
        targets[key] = j.target
for key, vs in values.items():
    t = targets[key]
    med = statistics.median(vs)
    met = sum(t.met(v) for v in vs)
    print(
        f"{key[0][:58]:58s} TLS {'on ' if key[1] else 'off'} "
        f"{' / '.join(shown(v, t) for v in vs):32s} median {shown(med, t):5s} met in {met} of {len(vs)}"
    )
