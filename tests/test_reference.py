"""The tidy LSOA table against the published totals it is built from."""

import numpy as np

from retrofit import reference


def test_lsoa_table_has_every_lsoa_and_published_households():
    table = reference.lsoas()
    assert len(table) == 1023
    assert table["lsoa_code"].is_unique
    assert table["households"].sum() == 686_261
    per_city = table.groupby("city")["households"].sum().to_dict()
    assert per_city == {"Birmingham": 438_509, "Coventry": 138_897, "Wolverhampton": 108_855}
    fuel_poor = table.groupby("city")["fuel_poor_households"].sum().to_dict()
    assert fuel_poor == {"Birmingham": 105_201, "Coventry": 30_886, "Wolverhampton": 24_991}
    assert not table.isna().any().any()
    assert table["imd_decile"].between(1, 10).all()
    assert table["lat"].between(52.3, 52.7).all() and table["lon"].between(-2.3, -1.4).all()


def test_split_lsoas_inherit_their_parents_decile():
    import pandas as pd

    from retrofit.paths import REFERENCE_DIR

    lookup = pd.read_csv(REFERENCE_DIR / "lsoa11_to_lsoa21_bham_cov_wolv.csv")
    imd = pd.read_csv(REFERENCE_DIR / "imd2019_file1_rank_decile_bham_cov_wolv.csv")
    parent_decile = imd.set_index("LSOA code (2011)")["Index of Multiple Deprivation (IMD) Decile"]
    table = reference.lsoas().set_index("lsoa_code")
    split = lookup[lookup["CHGIND"] == "S"]
    assert len(split) > 0
    expected = split["LSOA11CD"].map(parent_decile).to_numpy()
    assert (table.loc[split["LSOA21CD"], "imd_decile"].to_numpy() == expected).all()


def test_merged_lsoa_takes_population_weighted_rank():
    table = reference.lsoas().set_index("lsoa_code")
    import pandas as pd

    from retrofit.paths import REFERENCE_DIR

    lookup = pd.read_csv(REFERENCE_DIR / "lsoa11_to_lsoa21_bham_cov_wolv.csv")
    merged = lookup[lookup["CHGIND"] == "M"]
    for code, parents in merged.groupby("LSOA21CD"):
        rank = table.at[code, "imd_rank"]
        imd = pd.read_csv(REFERENCE_DIR / "imd2019_file1_rank_decile_bham_cov_wolv.csv").set_index("LSOA code (2011)")
        parent_ranks = imd.loc[parents["LSOA11CD"], "Index of Multiple Deprivation (IMD) Rank"].str.replace(",", "").astype(int)
        assert parent_ranks.min() <= rank <= parent_ranks.max()
        assert table.at[code, "imd_decile"] == reference.imd_decile_from_rank(np.array([rank]))[0]


def test_decile_from_rank_matches_the_published_deciles():
    import pandas as pd

    from retrofit.paths import REFERENCE_DIR

    imd = pd.read_csv(REFERENCE_DIR / "imd2019_file1_rank_decile_bham_cov_wolv.csv")
    ranks = imd["Index of Multiple Deprivation (IMD) Rank"].str.replace(",", "").astype(int)
    assert (reference.imd_decile_from_rank(ranks) == imd["Index of Multiple Deprivation (IMD) Decile"]).all()


def test_census_2021_categories_add_up_to_the_published_totals():
    import pandas as pd

    from retrofit.paths import REFERENCE_DIR

    for topic, (name, prefix, _groups) in reference.CENSUS_TABLES.items():
        raw = pd.read_csv(REFERENCE_DIR / name).set_index("geography code")
        total = raw[[c for c in raw.columns if "Total" in c][0]]
        table = reference.census2021(topic)
        assert len(table) == 1023, topic
        assert (table.sum(axis=1) == total.reindex(table.index)).all(), topic
    # Birmingham 067A (E01008881): 326 owned, 0 shared, 112 private, 11 rent free, 134 social
    tenure = reference.census2021("tenure").loc["E01008881"]
    assert tenure.to_dict() == {"owner_occupied": 326, "private_rented": 123, "social_rented": 134}


def test_metered_energy_per_city_as_published():
    metered = reference.metered_energy()
    assert len(metered) == 992
    by_city = metered.groupby("city").sum(numeric_only=True)
    mean_gas = by_city["gas_kwh"] / by_city["gas_meters"]
    # DESNZ 2019, mean domestic gas per consuming meter over the cities' LSOAs (kWh)
    assert mean_gas.round(0).to_dict() == {"Birmingham": 14674, "Coventry": 12921, "Wolverhampton": 14121}


def test_calibration_areas_join_splits_and_merges():
    of_2011, of_2021 = reference.calibration_areas()
    assert len(of_2011) == 992 and len(of_2021) == 1023
    # the two 2011 LSOAs merged into one 2021 LSOA are one area
    merged = of_2011[of_2011.str.contains("+", regex=False)]
    assert len(merged) == 2 and merged.nunique() == 1
    # a split 2011 LSOA's 2021 parts are in its area
    import pandas as pd

    from retrofit.paths import REFERENCE_DIR

    lookup = pd.read_csv(REFERENCE_DIR / "lsoa11_to_lsoa21_bham_cov_wolv.csv")
    split = lookup[lookup["CHGIND"] == "S"]
    assert (of_2021.loc[split["LSOA21CD"]].to_numpy() == split["LSOA11CD"].to_numpy()).all()
