"""Welch's unequal-variance t-test, shared by the Keras comparison scripts (no SciPy needed)."""
import math

import numpy as np


def welch(a, b):
    """Welch's t statistic of mean(b) - mean(a), its degrees of freedom and a two-sided p-value
    (Student's t density integrated numerically: ample for verdicts at 0.01)."""
    ma, mb, va, vb = np.mean(a), np.mean(b), np.var(a, ddof=1), np.var(b, ddof=1)
    se2 = va / len(a) + vb / len(b)
    if se2 == 0:
        return (0.0 if ma == mb else math.copysign(math.inf, mb - ma)), math.nan, \
            (1.0 if ma == mb else 0.0)
    t = (mb - ma) / math.sqrt(se2)
    df = se2 ** 2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    xs = np.linspace(abs(t), abs(t) + 200, 200001)
    density = (math.gamma((df + 1) / 2) / (math.sqrt(df * math.pi) * math.gamma(df / 2))
               * (1 + xs ** 2 / df) ** (-(df + 1) / 2))
    return t, df, float(min(1.0, 2 * np.trapezoid(density, xs)))
