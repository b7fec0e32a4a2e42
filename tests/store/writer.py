"""A separate process that stores runs, for the reliability tests (run as a script).

    python tests/store/writer.py URL store RUNS HOMES TAG READY_DIR   # RUNS runs of HOMES homes each
    python tests/store/writer.py URL stall HOMES                       # stops for good half-way through a store

`store` waits until every writer has written its ready file in READY_DIR, so that the
writers really do start together. `stall` prints "mid-store" once the first chunk of plan
rows is written, then sleeps inside the transaction until it is killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from retrofit.store import RunInputs, add_scenario, open_database, save_run  # noqa: E402
from tests.store.plans import make_plan, make_result  # noqa: E402

SCENARIO = 'name = "race"\n[budget]\ntotal_gbp = 1e9\n[years]\nstart = 2026\nend = 2028\n'
WRITERS = 2


def main(url: str, mode: str, *args: str) -> None:
    if mode == "store":
        runs, homes, tag, ready = int(args[0]), int(args[1]), args[2], Path(args[3])
        results = [make_result(make_plan(homes, seed=1000 * i + len(tag), prefix=f"{tag}-{i}-")) for i in range(runs)]
        (ready / tag).touch()
        while len(list(ready.iterdir())) < WRITERS:
            time.sleep(0.01)
        engine = open_database(url)
        scenario = add_scenario(engine, SCENARIO, who=tag).record
        for result in results:
            run = save_run(engine, scenario, result, RunInputs(candidates_hash=tag), who=tag)
            print(f"stored {run.id} {run.plan_hash}", flush=True)
    elif mode == "stall":
        homes = int(args[0])
        engine = open_database(url)
        scenario = add_scenario(engine, SCENARIO).record

        def stall(fraction: float, message: str) -> None:
            print(f"mid-store {message}", flush=True)
            time.sleep(600)

        save_run(engine, scenario, make_result(make_plan(homes)), RunInputs(candidates_hash="x"), progress=stall)
        print("finished (should have been killed)", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
