"""Content hashes: the same table in any row or column order hashes the same; any change shows."""

import pandas as pd

from retrofit.hashing import table_hash, text_hash

TABLE = pd.DataFrame({"home_id": ["a", "b", "c"], "cost_gbp": [1.0, 2.0, 3.0], "year": [2026, 2026, 2027]})


def test_order_of_rows_and_columns_does_not_matter():
    shuffled = TABLE.iloc[[2, 0, 1]][["year", "home_id", "cost_gbp"]].reset_index(drop=True)
    assert table_hash(shuffled) == table_hash(TABLE)
    assert table_hash(TABLE.astype({"home_id": "object"})) == table_hash(TABLE)
    assert table_hash(TABLE.astype({"home_id": "category"})) == table_hash(TABLE)
    assert len(table_hash(TABLE)) == 16


def test_any_change_in_content_or_names_changes_the_hash():
    reference = table_hash(TABLE)
    assert table_hash(TABLE.assign(cost_gbp=[1.0, 2.0, 3.5])) != reference
    assert table_hash(TABLE.rename(columns={"cost_gbp": "cost"})) != reference
    assert table_hash(TABLE.iloc[:2]) != reference
    assert table_hash(pd.concat([TABLE, TABLE.iloc[:1]])) != reference  # a duplicated row counts
    # Swapping values between rows changes the rows, even though each column holds the same values.
    swapped = TABLE.assign(year=[2027, 2026, 2026])
    assert table_hash(swapped) != reference
    assert table_hash(TABLE.iloc[:0]) != table_hash(TABLE.iloc[:0][["home_id"]])


def test_text_hash_is_short_and_stable():
    assert text_hash("abc") == "ba7816bf8f01cfea"  # SHA-256 of "abc", first 16 hex digits
