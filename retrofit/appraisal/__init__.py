"""Appraisal: from a housing stock and the measure library to the candidate table.

`measures` reads and checks the measure library (data/measures.csv, data/packages.csv and the
tables of data/appraisal/); `appraise` turns a stock into one candidate row per home and
package that applies (`retrofit.candidates` is the table's contract).
"""

from retrofit.appraisal.appraise import appraise, credibility, home_model
from retrofit.appraisal.measures import Library, load_library

__all__ = ["Library", "appraise", "credibility", "home_model", "load_library"]
