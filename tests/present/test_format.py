import math

import pytest

from retrofit.present import format as fmt


@pytest.mark.parametrize("value,text", [(1.234e9, "£1.23bn"), (12_345_678, "£12.3m"), (45_600, "£46k"),
                                        (999, "£999"), (-2_500_000, "-£2.5m"), (math.nan, "–"), (None, "–")])
def test_gbp(value, text):
    assert fmt.gbp(value) == text


def test_tonnes_and_counts():
    assert fmt.tonnes(12_345.4) == "12,345 tCO2"
    assert fmt.tonnes(2_500_000, per="yr") == "2,500 ktCO2/yr"
    assert fmt.count(12_000, "homes") == "12,000 homes"
    assert fmt.per_tonne(87.6) == "£88/tCO2"
    assert fmt.percent(23.456) == "23.5%"
