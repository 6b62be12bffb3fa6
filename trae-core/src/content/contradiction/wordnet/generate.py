#!/usr/bin/env python3
"""Derives the contradiction engine's antonym and inflection tables from WordNet 3.0.

Run it where Debian's `wordnet-base` is installed (the database under /usr/share/wordnet):

    python3 trae-core/src/content/contradiction/wordnet/generate.py

It rewrites `antonyms.tsv` and `inflections.tsv` next to itself. The engine embeds both with
`include_str!`, so building and running trae never needs WordNet; only regenerating does.

Why a script rather than a build script or a Rust example: the tables change only when this
selection changes, a reviewer should see every derived pair in the diff, and the parse is a few
lines of standard-library Python with no crate to add to the workspace. The output is sorted and
deterministic, so rerunning it without changes leaves the files byte for byte the same.

What is taken (single-word lemmas only, lowercase):

1. every lexical antonym pointer (`!`) between adjectives, verbs, adverbs and nouns; nouns only
   from the lexicographer files for acts, attributes, cognition, communication, events,
   feelings, phenomena, possessions, processes and states, because antonymous people, places
   and times ("man"/"woman", "north"/"south", "day"/"night") name different objects far more
   often than opposite claims about one;
2. the synonyms in either antonym's synset ("decrease" against "increase" also gives "diminish"
   and "lessen"), each only in a sense SemCor has seen at least once (cntlist.rev), so rare
   senses of common words ("fall" meaning "to be born, of lambs") stay out;
3. an adjective head's similar-to satellites (`&`: "huge" is similar to "large", so it opposes
   "small"), and a verb's direct troponyms (`~`: "soar" is a way to "rise"), each in a sense
   SemCor has seen at least twice, against the other side's head word only, never satellite
   against satellite, which would multiply the table by the cluster sizes.

`inflections.tsv` holds the irregular forms from verb.exc and adj.exc whose base form is in the
antonym table ("rose" -> "rise", "worse" -> "bad"), except forms that are antonym lemmas
themselves ("left" stays "left", the opposite of "right", rather than becoming "leave").
"""

import os
import sys

WORDNET = os.environ.get("WORDNET_DIR", "/usr/share/wordnet")
HERE = os.path.dirname(os.path.abspath(__file__))
POS = {"adj": "a", "verb": "v", "noun": "n", "adv": "r"}
# Lexicographer file numbers of the noun files kept (see the docstring, point 1).
NOUN_FILES = {4, 7, 9, 10, 11, 12, 19, 21, 22, 26}
# cntlist.rev's ss_type digit to a part of speech (5 is an adjective satellite).
SENSE_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}


def read_synsets():
    """(offset, pos) -> (lexicographer file, words, pointers)."""
    synsets = {}
    for name, pos in POS.items():
        with open(os.path.join(WORDNET, f"data.{name}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split("|")[0].split()
                offset, lexfile = fields[0], int(fields[1])
                count = int(fields[3], 16)
                # Adjective markers such as "(a)" follow the word without a space.
                words = [fields[4 + 2 * i].lower().split("(")[0] for i in range(count)]
                i = 4 + 2 * count
                pointers = []
                for _ in range(int(fields[i])):
                    symbol, target, target_pos, source_target = fields[i + 1 : i + 5]
                    target_pos = "a" if target_pos == "s" else target_pos
                    pointers.append((symbol, target, target_pos, source_target))
                    i += 4
                synsets[(offset, pos)] = (lexfile, words, pointers)
    return synsets


def read_sense_ranks():
    """(lemma, offset, pos) -> the sense's rank among the lemma's senses (1 = most frequent)."""
    ranks = {}
    for name, pos in POS.items():
        with open(os.path.join(WORDNET, f"index.{name}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fields = line.split()
                lemma, senses = fields[0], int(fields[2])
                for rank, offset in enumerate(fields[-senses:], start=1):
                    ranks[(lemma, offset, pos)] = rank
    return ranks


def read_tag_counts():
    """(lemma, pos, rank) -> how often SemCor tagged that sense."""
    counts = {}
    with open(os.path.join(WORDNET, "cntlist.rev"), encoding="latin-1") as f:
        for line in f:
            key, rank, count = line.split()
            lemma, rest = key.split("%")
            counts[(lemma, SENSE_POS[rest[0]], int(rank))] = int(count)
    return counts


def main():
    synsets = read_synsets()
    ranks = read_sense_ranks()
    counts = read_tag_counts()

    def seen(word, offset, pos, at_least):
        rank = ranks.get((word, offset, pos))
        return rank is not None and counts.get((word, pos, rank), 0) >= at_least

    def kept(pos, lexfile):
        return pos != "n" or lexfile in NOUN_FILES

    pairs = set()

    def add(a, b):
        if a != b and a.isalpha() and b.isalpha() and len(a) > 2 and len(b) > 2:
            pairs.add((min(a, b), max(a, b)))

    for (offset, pos), (lexfile, words, pointers) in synsets.items():
        if not kept(pos, lexfile):
            continue
        for symbol, target, target_pos, source_target in pointers:
            if symbol != "!":
                continue
            target_file, target_words, _ = synsets[(target, target_pos)]
            if not kept(target_pos, target_file):
                continue
            a = words[int(source_target[:2], 16) - 1]
            b = target_words[int(source_target[2:], 16) - 1]
            add(a, b)
            for mate in words:
                if seen(mate, offset, pos, 1):
                    add(mate, b)
            for mate in target_words:
                if seen(mate, target, target_pos, 1):
                    add(a, mate)
            # Satellites of an adjective head, troponyms of a verb: near-synonyms of `a`.
            near = {"a": "&", "v": "~"}.get(pos)
            for symbol2, other, other_pos, _ in pointers:
                if symbol2 == near and near is not None:
                    for word in synsets[(other, other_pos)][1]:
                        if seen(word, other, other_pos, 2):
                            add(word, b)

    lemmas = {w for pair in pairs for w in pair}
    inflections = set()
    for name in ("verb.exc", "adj.exc"):
        with open(os.path.join(WORDNET, name), encoding="latin-1") as f:
            for line in f:
                form, *bases = line.split()
                base = next((b for b in bases if b in lemmas), None)
                if base and form.isalpha() and form not in lemmas:
                    inflections.add((form, base))

    header = (
        "# Derived from WordNet 3.0 by generate.py; see LICENSE-WordNet.txt next to this file.\n"
    )
    with open(os.path.join(HERE, "antonyms.tsv"), "w", encoding="utf-8") as f:
        f.write(header)
        f.write("# Each unordered pair once; the engine looks it up both ways.\n")
        for a, b in sorted(pairs):
            f.write(f"{a}\t{b}\n")
    with open(os.path.join(HERE, "inflections.tsv"), "w", encoding="utf-8") as f:
        f.write(header)
        f.write("# Irregular form, then its base form.\n")
        for form, base in sorted(inflections):
            f.write(f"{form}\t{base}\n")
    print(f"{len(pairs)} antonym pairs, {len(inflections)} inflections", file=sys.stderr)


if __name__ == "__main__":
    main()
