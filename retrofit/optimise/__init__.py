"""The optimiser: which homes get which package in which year, under a scenario's rules.

`optimise(candidates, scenario)` returns a `retrofit.plan.PlanResult` with a proven upper
bound and gap; `InfeasibleScenario` says which rule cannot be met and by how much.
How it works: `solve.py` (the steps), `lagrange.py` (LP and bound), `core.py` (CP-SAT).
"""

from retrofit.optimise.feasibility import InfeasibleScenario
from retrofit.optimise.solve import optimise

__all__ = ["InfeasibleScenario", "optimise"]
