"""Appraisal: from a housing stock and the measure library to the candidate table.

`measures` reads and checks the measure library (data/measures.csv, data/packages.csv and the
tables of data/appraisal/); `physics` is each home's heat-loss model and baseline; `effects`
is what each measure effect does (one handler and one row of its table per effect);
`stages` applies a package's measures stage by stage; `appraise` runs every package over
every home into one candidate row per home and package that applies
(`retrofit.candidates` is the table's contract).
"""

from retrofit.appraisal.appraise import appraise, credibility
from retrofit.appraisal.measures import Library, load_library
from retrofit.appraisal.physics import home_model

__all__ = ["Library", "appraise", "credibility", "home_model", "load_library"]
