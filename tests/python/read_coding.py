"""Reads a coding TSV the way a researcher would: pandas for the table, then pympi-ling builds
an ELAN document from it (one tier per TSV tier), writes the .eaf and reads it back.
Prints what both readers saw, as JSON: python3 read_coding.py CODING.tsv OUT.eaf"""

import json
import sys

import pandas as pd
from pympi import Elan

tsv, eaf_path = sys.argv[1], sys.argv[2]
table = pd.read_csv(tsv, sep="\t", keep_default_na=False, dtype=str)
eaf = Elan.Eaf()
for tier in table["Tier"].unique():
    eaf.add_tier(tier)
for _, row in table.iterrows():
    begin, end = int(row["Begin Time - msec"]), int(row["End Time - msec"])
    # ELAN annotations have a length: a point (a marker) gets one millisecond.
    eaf.add_annotation(row["Tier"], begin, max(end, begin + 1), row["Annotation"])
eaf.to_file(eaf_path)
back = Elan.Eaf(eaf_path)
tiers = {
    tier: [[begin, end, value] for begin, end, value in sorted(back.get_annotation_data_for_tier(tier))]
    for tier in back.get_tier_names()
    if tier != "default"
}
print(json.dumps({"columns": list(table.columns), "rows": table.values.tolist(), "tiers": tiers}))
