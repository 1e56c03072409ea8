#!/usr/bin/env python3
"""Reference values for NLTrain's Statistics (Tests/NLTrainTests/StatisticsTests.swift), by scipy.

Run (only to regenerate; the tests read the JSON):
    python3 -m venv /tmp/scipy && /tmp/scipy/bin/pip install scipy
    /tmp/scipy/bin/python Tests/Fixtures/make_stats_fixtures.py

Writes Tests/Fixtures/stats.json:
    {"quantiles": [{"p", "df", "t"}],                      # scipy.stats.t.ppf(p, df)
     "samples":   [{"name", "values", "mean", "std",        # std with ddof=1
                    "ci95": [lo, hi]}],                     # mean ± t.ppf(0.975, n-1) s/√n
     "welch":     [{"name", "a", "b", "t", "df", "p"}]}     # ttest_ind(a, b, equal_var=False)
Accuracies are in percent, as the ablation reports give them.
"""
import json
import os
import warnings

import numpy as np
from scipy import stats

# scipy warns of "catastrophic cancellation" for the exactly constant sample; its moments are exact.
warnings.filterwarnings("ignore", message="Precision loss occurred")
HERE = os.path.dirname(os.path.abspath(__file__))

# Two-sided 95% (0.975) for the seed counts ablations use, plus other tails and fractional
# degrees of freedom (Welch's ν is fractional).
quantiles = [{"p": p, "df": df, "t": float(stats.t.ppf(p, df))}
             for p, df in [(0.975, 1), (0.975, 2), (0.975, 3), (0.975, 4), (0.975, 9), (0.975, 29),
                           (0.975, 2.5), (0.975, 7.6), (0.95, 1), (0.995, 4), (0.6, 3), (0.025, 4),
                           (0.999, 1.3), (0.975, 200)]]

samples = {
    "two seeds": [61.8, 64.2],
    "three seeds": [72.0, 74.5, 75.8],
    "five seeds": [70.0, 72.5, 68.0, 75.0, 71.25],
    "constant": [50.0, 50.0, 50.0],
    "wide": [25.0, 95.0, 60.0, 40.0],
}


def summary(name, x):
    x = np.asarray(x, dtype=float)
    n = len(x)
    s = float(np.std(x, ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * s / np.sqrt(n)
    return {"name": name, "values": x.tolist(), "mean": float(np.mean(x)), "std": s,
            "ci95": [float(np.mean(x) - half), float(np.mean(x) + half)]}


pairs = [
    ("n=2 each, clearly apart", [74.0, 74.2], [61.5, 62.1]),
    ("n=2 each, overlapping", [60.0, 72.0], [58.0, 66.0]),
    ("n=5 vs n=5, equal-ish", [70.0, 72.5, 68.0, 75.0, 71.25], [69.0, 73.0, 70.5, 71.0, 68.5]),
    ("n=5 vs n=3, unequal variances", [50.0, 90.0, 30.0, 75.0, 60.0], [62.0, 63.0, 61.5]),
    ("n=2 vs n=5", [95.0, 96.0], [70.0, 72.5, 68.0, 75.0, 71.25]),
    ("zero variance vs spread", [25.0, 25.0, 25.0], [30.0, 45.0, 20.0]),
    ("b better than a", [61.8, 60.1, 62.4], [74.1, 75.0, 73.3]),
    ("tiny p", [99.0, 99.5, 98.5, 99.2, 99.1], [10.0, 11.0, 9.5, 10.5, 10.2]),
]


def welch(name, a, b):
    r = stats.ttest_ind(a, b, equal_var=False)
    # r.df is the Welch–Satterthwaite ν (scipy ≥ 1.11).
    return {"name": name, "a": a, "b": b, "t": float(r.statistic), "df": float(r.df), "p": float(r.pvalue)}


out = {"quantiles": quantiles,
       "samples": [summary(k, v) for k, v in samples.items()],
       "welch": [welch(*p) for p in pairs]}
with open(os.path.join(HERE, "stats.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(f"wrote {len(quantiles)} quantiles, {len(samples)} samples, {len(pairs)} Welch tests")
