#!/usr/bin/env python3
"""Writes tests/fixtures/gender/nltk_word_tokenize.json: texts with the paper's gendered words
found by the authors' tokenisation, which `homogen::data::groupings::gender_tokens` must
reproduce exactly (tests/data_text.rs).

The authors (nlp_groupings.py) group a text by `{t.lower() for t in nltk.word_tokenize(text)}`
intersected with the word lists. Their code dates from October 2022, when nltk 3.7 was the
current release, so this script requires nltk 3.7 (`pip install nltk==3.7`): later releases
tokenise differently (3.10, for one, also splits off en and em dashes and an apostrophe that
opens a word).

`word_tokenize(text)` is `sent_tokenize(text)` (Punkt, English model) followed by the
Treebank-style `NLTKWordTokenizer` on each sentence. When the English Punkt model is installed
(`nltk.download('punkt')`), this script calls `nltk.word_tokenize` itself. Otherwise (no
network) it runs the same two steps with an untrained `PunktSentenceTokenizer()`, i.e.
`word_tokenize(sentence, preserve_line=True)` on each sentence it finds. The two differ only in
what the English model learnt: abbreviations (`mr`, `dr`, `u.s`, ...), collocations (pairs such
as `##number## international`), sentence starters and orthographic statistics, which Punkt
consults only for a token that is an abbreviation, an initial, a number or an ellipsis. No
listed word is any of these, and a listed word followed by a period is a sentence break for
both models, so the words found are the same. (Cross-checked while writing this script: with
the English model's abbreviation, collocation and sentence-starter lists, the same words were
found on all of these texts.) The fixture records which splitter made it.

Plain `word_tokenize(text, preserve_line=True)` on the whole text would be wrong: it splits only
the text's last period, so `He is a man. She left` would keep `man.` and miss `man`.

Usage: python scripts/make_gender_fixtures.py
"""
import json
import os
import random

import nltk
from nltk.tokenize import word_tokenize
from nltk.tokenize.punkt import PunktSentenceTokenizer

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "gender",
                   "nltk_word_tokenize.json")

MALE = ("he son his him father man boy himself male brother sons fathers men boys males "
        "brothers uncle uncles nephew nephews").split()
FEMALE = ("she daughter hers her mother woman girl herself female sister daughters mothers "
          "women girls femen sisters aunt aunts niece nieces").split()

# Hand-written cases: the comment says what nltk 3.7 does with the listed word.
HAND = [
    "He, he and she",                          # he, she
    "Spider-Man saves the day",                # one token: no match
    "my step-mother and her step-son",         # her only
    "the police_man and the fire_woman",       # no match
    "man-to-man talk, woman to woman",         # woman only
    "He's here; she'd go; they'll see his",    # he, she, his
    "HE'S the MAN'S man",                      # he, man ('S splits)
    "Mother's day, fathers' day",              # mother, fathers
    "the boys' club and the girls'",           # boys, girls
    "'mother' and 'son'",                      # leading apostrophe stays: no match
    "he said 'the boy's' thing",               # he, boy (' then 's split before a space)
    "the boy's'\n",                            # text end: only ' splits, no boy
    "the boy's'x",                             # 'x splits: boy
    "He'll he'LL He'Ll",                       # he (mixed case 'Ll is not split)
    "hen't and men'T",                         # he (n't); men'T stays
    "he's\nthere",                             # no space after 's: he's stays
    "his's\tcar",                              # tab: his's stays
    "Mr. Smith met the man. She left.",        # man, she
    "He is a man.<br /><br />She is not",      # man. stays before <: she only
    "He is a man. <br /><br />She is not",     # man, she
    "the man.The end",                         # man.The: no man
    "he.she",                                  # one token
    "Ask the man... then the woman..",         # man, woman
    "the man. . . and more",                   # man
    "the man. . x",                            # man. kept (next run opens a sentence end)
    "the man. ! x",                            # man. kept
    "the man.) Then",                          # man
    "(the man.)x and more. Fine",              # man
    "the man.)x. Fine",                        # man. kept: the sentence ends at x.
    "the man.' And",                           # man
    "the man.? x",                             # man. kept
    "the man.?",                               # man
    "the man.>",                               # man (final period)
    "visit http://www.his-site.com/mother",    # no match
    "mail him@example.com or her#tag",         # him, her
    "his/her choice, him/herself",             # no match
    "the man,2 and the woman,x",               # woman
    "the man:2 and the woman:x",               # woman
    "the man,,woman",                          # man (,woman stays)
    "man--woman and boy---girl",               # man, woman, boy (-girl stays)
    "the mother—a widow—and the father–son",   # no match in nltk 3.7
    "«mother» “father” ‘son’ „aunt”",          # mother, father, son, aunt
    "\"mother\" ``father'' `son`",             # all three
    "mother* father& son% aunt$ uncle@",       # all
    "his+her, him=her, men|women",             # no match
    "2men and 3women, men2 women",             # women
    "MEN! Women? Girls;",                      # men, women, girls
    "sheep, hermits, mankind, mothers-in-law", # no match
    "FEMEN protest",                           # femen
    "She cannot go, he gonna stay",            # she, he
    "the nephew's nieces' aunt's",             # nephew, nieces, aunt
    "his'",                                    # his
    "'his",                                    # no match
    "x 'he y",                                 # no match
    "he'x",                                    # he
    "he's'",                                   # text end: only ' splits, no he
    "he's' more",                              # he
    "he's') more",                             # no he: ' is split after the 's pass
    "boy's\u00a0more",                         # no-break space: boy's stays
    "the boy\u2019s friend",                   # boy (curly apostrophe splits)
    "the boys''",                              # boys
    "women'''",                                # women
    "Daughters, mothers: sisters!",            # all three
    "THE END. he",                             # he
    "he. ",                                    # he
    "  he.\n",                                 # he
    "i.e. his",                                # his
    "U.S. men",                                # men
    "the man.\"",                              # man
    "the man.\" she",                          # man, she
    "the man.; she",                           # man, she
    "the man.: she",                           # man, she
    "He! She? It.",                            # he, she
]

REVIEWS = [
    "I watched this with my mother and sister.<br /><br />The father (played by an unknown) "
    "is wonderful; his son isn't.",
    "Spider-Man 3 was a let-down. The boy-next-door act gets old, and Mary Jane's aunt... "
    "well, never mind.",
    "\"She's the best thing in it,\" my aunt said. I agree: the woman steals every scene!",
    "A man's man. A woman's woman. Two hours of nothing.<br />10/10 would not watch again.",
    "The brothers (Joel and Ethan) made it; their nephew-in-law stars. He's fine.",
    "Q: Who is the killer? A: the girl's father--or is it her uncle?",
    "Great film!!! His best since 1999... Her best ever.",
    "Rated R for violence. Mr. and Mrs. Smith (the parents) argue; the daughters hide.",
    "It's a boys' club movie – the women are props.",
    "the mother.<br /><br />the father. <br /><br />the son",
]


def random_texts(n, seed):
    words = ["he", "Man", "mother", "HER", "sons", "boy", "His", "she", "men", "women", "aunt",
             "the", "Mr", "Mrs", "x", "2", "10", "3.5", "a", "I", "step", "http", "www", "com",
             "s", "S", "ll", "t", "d", "don", "cannot", "U.S", "é", "_", "x2"]
    pieces = list(" .,:;!?'\"-_/()[]{}<>*@#$%&`+=|\n\t\xa0") + [
        "--", "---", "...", "..", ". . .", "'s", "'S", "'ll", "'LL", "'Ll", "n't", "N'T",
        "'re", "'ve", "'m", "'d", "''", "'''", "``", "’", "“", "”", "‘", "—", "–", "«", "»",
        "<br />", ". ", "  ", "://", ",2", ":3", ".)", ".'", '."', "?)", "!!", " . ", "\n\n"]
    r = random.Random(seed)
    return ["".join(r.choice(words) if r.random() < 0.5 else r.choice(pieces)
                    for _ in range(r.randint(1, 16))) for _ in range(n)]


def splitter():
    try:
        nltk.data.find("tokenizers/punkt/english.pickle")
        return "punkt english model (nltk.word_tokenize)", word_tokenize
    except LookupError:
        untrained = PunktSentenceTokenizer()

        def tokenize(text):
            return [t for s in untrained.tokenize(text)
                    for t in word_tokenize(s, preserve_line=True)]
        return "untrained PunktSentenceTokenizer() + word_tokenize(sentence, preserve_line=True)", \
            tokenize


def main():
    if nltk.__version__ != "3.7":
        raise SystemExit(f"needs nltk 3.7 (the authors' release), found {nltk.__version__}: "
                         "pip install nltk==3.7")
    how, tokenize = splitter()
    cases = []
    for text in HAND + REVIEWS + random_texts(800, 2022):
        tokens = {t.lower() for t in tokenize(text)}
        male = sorted(tokens & set(MALE))
        female = sorted(tokens & set(FEMALE))
        group = "male" if len(male) > len(female) else "female" if len(female) > len(male) \
            else "other"
        cases.append({"text": text, "male": male, "female": female, "group": group})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    head = {"nltk": nltk.__version__, "sentence_splitter": how,
            "made_by": "scripts/make_gender_fixtures.py"}
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases -> {OUT} ({how})")


if __name__ == "__main__":
    main()
