"""Trade-offs: a weight sweep between two objectives, each point a full plan; and how the KPIs
move as one weight moves.

With normalise = "ideal" the weights are on a common scale, so sweeping the share of
weight from one objective to the other (the third keeps its scenario weight) traces the
supported points of the frontier. Re-solves reuse the first solve's model and ideals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retrofit.errors import RetrofitError
from retrofit.optimise.model import METRICS
from retrofit.optimise.solve import optimise
from retrofit.scenario import Scenario


def trace_frontier(candidates: pd.DataFrame, scenario: Scenario, first: str = "carbon",
                   second: str = "fuel_poverty", points: int = 5, progress=None, cancel=None):
    """(curve table, plan results) for weights first = 1 - a, second = a, a from 0 to 1."""
    if first == second or first not in METRICS or second not in METRICS:
        raise ValueError(f"frontier axes must be two of {list(METRICS)}")
    results, records, warm = [], [], None
    for i, share in enumerate(np.linspace(0.0, 1.0, points)):
        weights = scenario.weights.model_copy(update={first: float(1 - share), second: float(share), "normalise": "ideal"})
        point = scenario.model_copy(update={"weights": weights})
        if progress:
            progress(i / points, f"point {i + 1} of {points}: {first} {1 - share:.2f}, {second} {share:.2f}")
        try:
            result = optimise(candidates, point, cancel=cancel, warm_start=warm)
        except RetrofitError:
            if cancel is not None and cancel.is_set():
                break  # cancelled: the points traced so far
            raise
        warm = result
        results.append(result)
        records.append({f"weight_{first}": 1 - share, f"weight_{second}": share, "status": result.status,
                        "objective": result.objective, "gap": result.gap, **result.kpis})
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(records), results


def weight_sensitivity(candidates: pd.DataFrame, scenario: Scenario, weight: str, values: list[float],
                       progress=None, cancel=None) -> pd.DataFrame:
    """How the KPIs move as one weight moves (the others as in the scenario): one solve per value.

    Re-solves reuse the first solve's model and ideals (the optimiser's warm start).
    """
    if weight not in METRICS:
        raise ValueError(f"weight must be one of {list(METRICS)}")
    records, warm = [], None
    for i, value in enumerate(values):
        if cancel is not None and cancel.is_set():
            break
        if progress:
            progress(i / len(values), f"{weight} weight {value:g} ({i + 1} of {len(values)})")
        try:
            point = scenario.model_copy(update={"weights": scenario.weights.model_copy(update={weight: float(value)})})
            result = optimise(candidates, point, cancel=cancel, warm_start=warm)
        except ValueError:
            continue
        except RetrofitError:
            if cancel is not None and cancel.is_set():
                break  # cancelled: the values solved so far
            raise
        warm = result
        records.append({"weight": weight, "value": float(value), "status": result.status, "gap": result.gap,
                        **{k: v for k, v in result.kpis.items() if isinstance(v, (int, float))}})
    if progress:
        progress(1.0, "done")
    return pd.DataFrame(records)
