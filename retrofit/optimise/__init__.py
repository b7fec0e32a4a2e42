"""The optimiser: which homes get which package in which year, under a scenario's rules.

`optimise(candidates, scenario)` returns a `retrofit.plan.PlanResult` with a proven upper
bound and gap; `InfeasibleScenario` says which rule cannot be met and by how much;
`explain_homes` says why each home is in or out, from a run's stored prices.
How it works: `solve.py` (the steps), `lagrange.py` (prices, LP and bound), `core.py`
(CP-SAT), `years.py` (years for the chosen homes), `limits.py` (where each step stops: counted
work, with the time limit as the hard stop).
"""

from retrofit.optimise.explain import explain_homes
from retrofit.optimise.feasibility import InfeasibleScenario
from retrofit.optimise.solve import optimise

__all__ = ["InfeasibleScenario", "explain_homes", "optimise"]
