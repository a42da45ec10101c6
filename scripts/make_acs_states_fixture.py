"""Makes the two-state ACS fixture and what folktables makes of it.

Writes tests/fixtures/tabular/acs/folktables/2018/1-Year/psam_p01.csv (Alabama, 3 people) and
psam_p02.csv (Alaska, 2 people) in the person-file layout of psam_p06.csv (its header), with the
hand-picked values below (every other field empty), then loads that folder with folktables
exactly as the authors' ACS_experiments.py does, `ACSDataSource(survey_year='2018',
horizon='1-Year', survey='person', root_dir=ROOT).get_data(download=False)` (no `states`: every
state of folktables' `state_list`, restricted here to the two that exist, in its order), and
writes the rows, labels, features and groups of ACSEmployment, ACSIncomePovertyRatio and
ACSHealthInsurance to folktables_expected.json for tests/tabular_data.rs.

    python3 -m venv .venv && .venv/bin/pip install folktables==0.0.12 pandas numpy
    .venv/bin/python scripts/make_acs_states_fixture.py
"""

import json
import sys
from pathlib import Path

import numpy as np

import folktables
from folktables import ACSDataSource, ACSEmployment, ACSHealthInsurance, ACSIncomePovertyRatio

HERE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "tabular" / "acs"
ROOT = HERE / "folktables"
FOLDER = ROOT / "2018" / "1-Year"

# Hand-picked people. RACE flags: AIAN, ASN, BLK, NH, PI, SOR, WHT.
COMMON = dict(RT="P", DIVISION="", PUMA="", REGION="")
ALABAMA = [
    dict(SERIALNO="2018HU0000001", SPORDER=1, AGEP=34, SCHL=21, MAR=1, RELP=0, DIS=2, ESP="",
         CIT=1, MIG=1, MIL=4, ANC=1, NATIVITY=1, DEAR=2, DEYE=2, DREM=2, SEX=1, RAC1P=1, GCL=2,
         ESR=1, OCCP=2310, WKHP=40, RACE=(0, 0, 0, 0, 0, 0, 1), PINCP=52000, FER="",
         POVPIP=412, HINS2=2),
    dict(SERIALNO="2018HU0000002", SPORDER=1, AGEP=71, SCHL=16, MAR=2, RELP=1, DIS=1, ESP="",
         CIT=1, MIG=1, MIL=2, ANC=2, NATIVITY=1, DEAR=1, DEYE=2, DREM=1, SEX=2, RAC1P=2, GCL=2,
         ESR=6, OCCP="", WKHP="", RACE=(0, 0, 1, 0, 0, 0, 0), PINCP=14300, FER="", POVPIP=133,
         HINS2=1),
    dict(SERIALNO="2018HU0000002", SPORDER=2, AGEP=9, SCHL=5, MAR=5, RELP=2, DIS=2, ESP=1, CIT=1,
         MIG=1, MIL="", ANC=4, NATIVITY=1, DEAR=2, DEYE=2, DREM=2, SEX=1, RAC1P=9, GCL="",
         ESR="", OCCP="", WKHP="", RACE=(0, 0, 1, 0, 0, 0, 1), PINCP="", FER="", POVPIP=95,
         HINS2=2),
]
ALASKA = [
    dict(SERIALNO="2018HU0000003", SPORDER=1, AGEP=45, SCHL=19, MAR=3, RELP=0, DIS=2, ESP="",
         CIT=4, MIG=3, MIL=4, ANC=1, NATIVITY=2, DEAR=2, DEYE=2, DREM=2, SEX=2, RAC1P=6, GCL=2,
         ESR=3, OCCP=4720, WKHP=25, RACE=(0, 1, 0, 0, 0, 0, 0), PINCP=8000, FER=2, POVPIP="",
         HINS2=1),
    dict(SERIALNO="2018HU0000004", SPORDER=1, AGEP=28, SCHL=22, MAR=1, RELP=1, DIS=2, ESP="",
         CIT=1, MIG=1, MIL=4, ANC=3, NATIVITY=1, DEAR=2, DEYE=2, DREM=2, SEX=1, RAC1P=4, GCL=2,
         ESR=1, OCCP=3255, WKHP=50, RACE=(1, 0, 0, 0, 0, 0, 0), PINCP=91000, FER="",
         POVPIP=501, HINS2=2),
]
FLAGS = ["RACAIAN", "RACASN", "RACBLK", "RACNH", "RACPI", "RACSOR", "RACWHT"]


def write_state(name, st, people, header):
    lines = [",".join(header)]
    for p in people:
        fields = dict(COMMON, ST=f"{st:02d}", **{k: v for k, v in p.items() if k != "RACE"})
        fields.update(zip(FLAGS, p["RACE"]))
        unknown = set(fields) - set(header)
        assert not unknown, unknown
        lines.append(",".join(str(fields.get(h, "")) for h in header))
    (FOLDER / name).write_text("\n".join(lines) + "\n")


def main():
    header = (HERE / "psam_p06.csv").read_text().splitlines()[0].split(",")
    FOLDER.mkdir(parents=True, exist_ok=True)
    write_state("psam_p01.csv", 1, ALABAMA, header)
    write_state("psam_p02.csv", 2, ALASKA, header)

    # folktables' default states are its whole state_list; keep its order, only the states
    # present in the fixture.
    load_acs_module = sys.modules["folktables.load_acs"]
    load_acs_module.state_list = [
        s for s in load_acs_module.state_list
        if (FOLDER / f"psam_p{load_acs_module._STATE_CODES[s]}.csv").exists()
    ]
    assert load_acs_module.state_list == ["AL", "AK"], load_acs_module.state_list
    source = ACSDataSource(survey_year="2018", horizon="1-Year", survey="person",
                           root_dir=str(ROOT))
    df = source.get_data(download=False)

    out = {"folktables": folktables.__version__ if hasattr(folktables, "__version__") else "",
           "n": int(len(df)), "ST": [int(v) for v in df["ST"]], "tasks": {}}
    for name, problem in [("employment", ACSEmployment),
                          ("income_poverty", ACSIncomePovertyRatio),
                          ("health_insurance", ACSHealthInsurance)]:
        x, y, g = problem.df_to_numpy(df)
        out["tasks"][name] = {
            "features": problem.features,
            "x": np.asarray(x, dtype=float).tolist(),
            "y": [int(v) for v in y],
            "group": [int(v) for v in g],
        }
    (HERE / "folktables_expected.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{out['n']} people; ST {out['ST']}")


if __name__ == "__main__":
    main()
