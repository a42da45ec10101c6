#!/usr/bin/env python3
"""Write tiny copies of the paper's datasets in their real on-disk layouts, plus the values the
Rust loaders must produce, computed here independently (PIL, pandas, plain Python).

Run from the repository root:  /work/venv/bin/python scripts/make_data_fixtures.py
Output: tests/fixtures/data/ (committed; CI never runs Python).

Layouts written
- celeba/official/: img_align_celeba/*.jpg (178x218), list_attr_celeba.txt (count line, 40
  names, -1/1 values with the irregular spacing of the real file), list_eval_partition.txt.
- celeba/hub_bool/img_align+identity+attr/{train,valid,test}-00000-of-00001.parquet: the
  flwrlabs/celeba mirror (image struct {bytes, path}, celeb_id, 40 bool columns); two images are
  PNG. celeba/hub_int01/ and celeba/hub_pm1/: the same rows with 0/1 and -1/1 integer columns
  (data/{split}-00000-of-00001.parquet, as other mirrors store them).
- imdb/hub/plain_text/{train,test,unsupervised}-00000-of-00001.parquet; imdb/csv/{train,test}.csv;
  imdb/jsonl/{train,test}.jsonl (labels as class names in the JSONL, to exercise names).
- ag_news/hub/data/{train,test}-00000-of-00001.parquet.
- yahoo_answers_topics/hub/yahoo_answers_topics/{train,test}-00000-of-00001.parquet
  (id, topic, question_title, question_content, best_answer).
- hate_speech18/zip/data.zip (annotations_metadata.csv + all_files/<file_id>.txt) and
  hate_speech18/parquet/default/train/0000.parquet (the Hub's parquet conversion).
- bad/: a parquet without `text`, a CSV with a label outside the class set.
Expected values
- celeba/expected.csv: example_id, split, the two default tasks, hair, beard, mean RGB of the
  image as PIL decodes it.
- <set>/expected.csv: example_id, split, label, gender, length (4 bins, authors' rule), text.
"""
import io
import json
import os
import random
import re
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

OUT = os.path.join("tests", "fixtures", "data")

ATTRS = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes "
    "No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling "
    "Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace "
    "Wearing_Necktie Young"
).split()
assert len(ATTRS) == 40
HAIR = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]


def path(*parts):
    p = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def face(i, fmt):
    """A smooth 178x218 picture (small when compressed), different for every i."""
    y, x = np.mgrid[0:218, 0:178]
    r = np.clip(x + 6 * i, 0, 255)
    g = np.clip(y + 3 * i, 0, 255)
    b = np.full_like(x, (40 * i) % 256)
    img = Image.fromarray(np.stack([r, g, b], -1).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=60) if fmt == "JPEG" else img.save(buf, format=fmt)
    return buf.getvalue()


def mean_rgb(data):
    a = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
    return a.reshape(-1, 3).mean(0)


def celeba():
    rng = random.Random(4)
    n = 12
    # Hand-set hair patterns: none, one of each, two, three (bald-like cases give none).
    hair_sets = [[], ["Black_Hair"], ["Blond_Hair"], ["Brown_Hair"], ["Gray_Hair"],
                 ["Black_Hair", "Blond_Hair"], ["Brown_Hair", "Gray_Hair", "Blond_Hair"], [],
                 ["Black_Hair"], ["Blond_Hair"], ["Brown_Hair"], ["Black_Hair", "Gray_Hair"]]
    parts = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    rows = []
    for i in range(n):
        v = {a: rng.random() < 0.3 for a in ATTRS}
        for h in HAIR:
            v[h] = h in hair_sets[i]
        v["Bald"] = not hair_sets[i] and i == 0
        v["No_Beard"] = i % 3 != 1
        v["Wearing_Earrings"] = i % 2 == 0
        v["Wearing_Necklace"] = i % 4 == 1
        name = f"{i + 1:06d}.jpg"
        fmt = "PNG" if i in (3, 8) else "JPEG"
        rows.append((name, v, parts[i], face(i, fmt)))
    # Official layout. The real file right-aligns values in 3-wide fields ("  1", " -1").
    with open(path("celeba", "official", "list_attr_celeba.txt"), "w") as f:
        f.write(f"{n}\n")
        f.write(" ".join(ATTRS) + " \n")
        for name, v, _, _ in rows:
            f.write(name + " " + "".join(f"{(1 if v[a] else -1):>3}" for a in ATTRS) + "\n")
    with open(path("celeba", "official", "list_eval_partition.txt"), "w") as f:
        for name, _, p, _ in rows:
            f.write(f"{name} {p}\n")
    for name, _, _, data in rows:
        # The official folder holds JPEGs; a PNG-encoded mirror image is stored re-encoded.
        if data[:4] == b"\x89PNG":
            buf = io.BytesIO()
            Image.open(io.BytesIO(data)).save(buf, format="JPEG", quality=60)
            data = buf.getvalue()
        with open(path("celeba", "official", "img_align_celeba", name), "wb") as f:
            f.write(data)
    # Parquet mirrors.
    split_names = ["train", "valid", "test"]
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    for variant, conv, folder in [("hub_bool", bool, "img_align+identity+attr"),
                                  ("hub_int01", lambda b: int(b), "data"),
                                  ("hub_pm1", lambda b: 1 if b else -1, "data")]:
        for s, sname in enumerate(split_names):
            sel = [r for r in rows if r[2] == s]
            cols = {"image": pa.array([{"bytes": r[3], "path": r[0]} for r in sel], image_type)}
            if variant == "hub_bool":
                cols["celeb_id"] = pa.array([100 + i for i in range(len(sel))], pa.int64())
            for a in ATTRS:
                vals = [conv(r[1][a]) for r in sel]
                cols[a] = pa.array(vals, pa.bool_() if variant == "hub_bool" else pa.int64())
            pq.write_table(pa.table(cols), path("celeba", variant, folder,
                                                f"{sname}-00000-of-00001.parquet"))
    # Expected values.
    exp = []
    for name, v, p, data in rows:
        hs = [h for h in HAIR if v[h]]
        official = open(path("celeba", "official", "img_align_celeba", name), "rb").read()
        mo, mh = mean_rgb(official), mean_rgb(data)
        exp.append({"example_id": name, "split": split_names[p],
                    "Wearing_Earrings": int(v["Wearing_Earrings"]),
                    "Wearing_Necklace": int(v["Wearing_Necklace"]),
                    "hair": hs[0] if len(hs) == 1 else "Other",
                    "beard": "No_Beard" if v["No_Beard"] else "Beard",
                    "hub_format": "png" if data[:4] == b"\x89PNG" else "jpeg",
                    "official_r": mo[0], "official_g": mo[1], "official_b": mo[2],
                    "hub_r": mh[0], "hub_g": mh[1], "hub_b": mh[2]})
    pd.DataFrame(exp).to_csv(path("celeba", "expected.csv"), index=False)


MALE = ("he son his him father man boy himself male brother sons fathers men boys males "
        "brothers uncle uncles nephew nephews").split()
FEMALE = ("she daughter hers her mother woman girl herself female sister daughters mothers "
          "women girls femen sisters aunt aunts niece nieces").split()

# Hand-written texts covering the gender rule's cases; the comment gives the expected group.
TEXTS = [
    "He, he and she",                                   # he(1) vs she(1): other
    "HIS mother's sister",                              # his 1 vs mother, sister 2: female
    "The Father and his Son went home.",                # father, his, son: male
    "Nothing to see here",                              # none: other
    "She said her aunt's niece was a girl",             # she, her, aunt, niece, girl: female
    "men, Men, MEN! and women",                         # men 1 vs women 1: other
    "he's a man",                                       # he, man: male
    "femen protest",                                    # femen: female (the paper's list)
    "uncle-nephew business; the brothers agreed",       # uncle, nephew, brothers: male
    "A long review that mentions nobody at all but goes on and on about the plot twists",
    "Short one",
    "Her herself hers",                                 # 3 female: female
    "Boys and girls and boys",                          # boys 1 vs girls 1: other
    "The son of a son of a sailor",                     # son: male
    "Daughters, mothers: sisters!",                     # female
    "It was fine, I guess; nothing more to add here really",
]


def tokens(text):
    return re.findall(r"[^\W_]+", text.lower())


def gender(text):
    t = set(tokens(text))
    m, f = len(t & set(MALE)), len(t & set(FEMALE))
    return "male" if m > f else "female" if f > m else "other"


def length_bins(lengths, n):
    """The authors' rule, restated: bin = 1 + number of order-statistic edges exceeded."""
    s = sorted(lengths)
    step = len(s) // n
    edges = [s[g * step] for g in range(1, n)]
    return [1 + sum(1 for e in edges if x > e) for x in lengths]


def text_rows(seed, n, n_classes):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        base = TEXTS[i % len(TEXTS)]
        extra = " ".join(rng.choice(["plot", "acting", "score", "film", "story"])
                         for _ in range(rng.randrange(0, 12)))
        rows.append((f"{base} {extra}".strip(), i % n_classes))
    return rows


def expected(name, records):
    """records: dicts with example_id, split, label, text."""
    df = pd.DataFrame(records)
    df["gender"] = [gender(t) for t in df["text"]]
    df["length"] = 0
    for s in df["split"].unique():
        idx = df.index[df["split"] == s]
        df.loc[idx, "length"] = length_bins([len(tokens(t)) for t in df.loc[idx, "text"]], 4)
    df["length"] = ["q%d" % b for b in df["length"]]
    df[["example_id", "split", "label", "gender", "length", "text"]].to_csv(
        path(name, "expected.csv"), index=False)


def write_parquet(table, *parts):
    pq.write_table(table, path(*parts))


def imdb():
    splits = {"train": text_rows(1, 20, 2), "test": text_rows(2, 16, 2)}
    recs = []
    for s, rows in splits.items():
        write_parquet(pa.table({"text": [t for t, _ in rows], "label": [l for _, l in rows]}),
                      "imdb", "hub", "plain_text", f"{s}-00000-of-00001.parquet")
        pd.DataFrame({"text": [t for t, _ in rows], "label": [l for _, l in rows]}).to_csv(
            path("imdb", "csv", f"{s}.csv"), index=False)
        with open(path("imdb", "jsonl", f"{s}.jsonl"), "w") as f:
            for t, l in rows:
                f.write(json.dumps({"text": t, "label": ["neg", "pos"][l]}) + "\n")
        recs += [{"example_id": f"imdb:{s}:{i}", "split": s, "label": l, "text": t}
                 for i, (t, l) in enumerate(rows)]
    un = text_rows(3, 5, 1)
    write_parquet(pa.table({"text": [t for t, _ in un], "label": [-1] * len(un)}),
                  "imdb", "hub", "plain_text", "unsupervised-00000-of-00001.parquet")
    expected("imdb", recs)


def ag_news():
    recs = []
    for s, rows in {"train": text_rows(4, 16, 4), "test": text_rows(5, 12, 4)}.items():
        write_parquet(pa.table({"text": [t for t, _ in rows], "label": [l for _, l in rows]}),
                      "ag_news", "hub", "data", f"{s}-00000-of-00001.parquet")
        recs += [{"example_id": f"ag_news:{s}:{i}", "split": s, "label": l, "text": t}
                 for i, (t, l) in enumerate(rows)]
    expected("ag_news", recs)


def yahoo():
    recs = []
    next_id = 1000
    for s, rows in {"train": text_rows(6, 20, 10), "test": text_rows(7, 10, 10)}.items():
        ids = list(range(next_id, next_id + len(rows)))
        next_id += 100
        write_parquet(pa.table({
            "id": pa.array(ids, pa.int32()),
            "topic": pa.array([l for _, l in rows], pa.int64()),
            "question_title": [t for t, _ in rows],
            "question_content": ["content: " + t.upper() for t, _ in rows],
            "best_answer": ["answer"] * len(rows)}),
            "yahoo_answers_topics", "hub", "yahoo_answers_topics",
            f"{s}-00000-of-00001.parquet")
        recs += [{"example_id": str(i), "split": s, "label": l, "text": t}
                 for i, (t, l) in zip(ids, rows)]
    expected("yahoo_answers_topics", recs)


def hate_speech():
    labels = ["noHate", "hate", "idk/skip", "relation"]
    # 15 / 8 / 4 / 3 examples per class, interleaved.
    classes = [0] * 15 + [1] * 8 + [2] * 4 + [3] * 3
    random.Random(8).shuffle(classes)
    rows = []
    for i, c in enumerate(classes):
        t = TEXTS[i % len(TEXTS)] + f" post {i}"
        rows.append((f"{12834217 + i}_{1 + i % 3}", 3000 + i, 1346 + i % 5, i % 2, c, t))
    buf = io.StringIO()
    pd.DataFrame({"file_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
                  "subforum_id": [r[2] for r in rows], "num_contexts": [r[3] for r in rows],
                  "label": [labels[r[4]] for r in rows]}).to_csv(buf, index=False)
    with zipfile.ZipFile(path("hate_speech18", "zip", "data.zip"), "w",
                         zipfile.ZIP_DEFLATED) as z:
        def put(name, text):
            # A fixed timestamp keeps the archive byte-identical between runs.
            info = zipfile.ZipInfo(name, date_time=(2017, 9, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)

        put("annotations_metadata.csv", buf.getvalue())
        for r in rows:
            put(f"all_files/{r[0]}.txt", r[5] + "\n")
    write_parquet(pa.table({"text": [r[5] for r in rows], "user_id": [r[1] for r in rows],
                            "subforum_id": [r[2] for r in rows],
                            "num_contexts": [r[3] for r in rows],
                            "label": [r[4] for r in rows]}),
                  "hate_speech18", "parquet", "default", "train", "0000.parquet")
    # Before the 80/20 cut every example is in `train`; the length bins below are those of the
    # whole set (the Rust loader bins each split after the cut, so only ids/labels/gender are
    # compared for this set).
    expected("hate_speech18", [{"example_id": r[0], "split": "train", "label": r[4],
                                "text": r[5]} for r in rows])


def bad():
    write_parquet(pa.table({"review": ["a", "b"], "label": [0, 1]}),
                  "bad", "no_text", "train-00000-of-00001.parquet")
    pd.DataFrame({"text": ["fine", "also fine", "bad label"], "label": [0, 1, 5]}).to_csv(
        path("bad", "label_out_of_range", "train.csv"), index=False)


if __name__ == "__main__":
    celeba()
    imdb()
    ag_news()
    yahoo()
    hate_speech()
    bad()
    print("wrote", OUT)
