#!/usr/bin/env python3
"""Derives the contradiction engine's antonym tables from WordNet 3.0.

Run it where Debian's `wordnet-base` is installed (the database under /usr/share/wordnet):

    python3 trae-core/src/content/contradiction/wordnet/generate.py

It rewrites `poles.tsv`, `opposite_poles.tsv` and `inflections.tsv` next to itself. The engine
embeds them with `include_str!`, so building and running trae never needs WordNet; only
regenerating does.

Why a script rather than a build script or a Rust example: the tables change only when this
selection changes, a reviewer should see every derived entry in the diff, and the parse is a few
lines of standard-library Python with no crate to add to the workspace. The output is sorted and
deterministic, so rerunning it without changes leaves the files byte for byte the same.

The model is WordNet's own, indirect antonymy. WordNet links antonyms (`!`) between a few
synsets, the poles ("wet"/"dry", "increase"/"decrease"); other words reach a pole through a
relation, and two words are antonyms when they reach opposite poles. A word reaches:

1. a pole synset it belongs to ("diminish" is in the synset of "decrease"); the words of the
   two synsets an antonym pointer links reach their poles in however rare a sense
   ("appreciate"/"depreciate" of a currency, "single" as "unmarried");
2. for an adjective, the head it is similar to (`&`: "huge" -> "large") and the heads it sees
   also (`^`: "healthy" -> "well", whose antonym "ill" holds "sick");
3. for a verb, the verbs it is a way of doing (`@`: "soar" -> "rise").

Storing each word's poles instead of every word pair keeps the table linear in the number of
words (a cluster of fifty satellites against another of fifty would be 2,500 pairs).

Selection (single-word lemmas only, lowercase, three letters or more):

- nouns only from the lexicographer files for acts, attributes, cognition, communication,
  events, feelings, phenomena, possessions, processes and states, because antonymous people,
  places and times ("man"/"woman", "north"/"south", "day"/"night") name different objects far
  more often than opposite claims about one;
- a word stands for a synset only in a sense SemCor has seen (cntlist.rev), or, for an
  adjective, in its first sense: this keeps rare senses of common words out ("fall" meaning
  "to be born, of lambs") while keeping adjectives SemCor never met ("edible").

`inflections.tsv` holds the irregular forms from verb.exc and adj.exc whose base form has a
pole ("sank" -> "sink", "shrank" -> "shrink"), except forms that have poles of their own ("left"
stays "left", the opposite of "right", rather than becoming "leave").
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

    def common(word, offset, pos):
        """Whether `word` is used in this sense often enough to stand for it."""
        rank = ranks.get((word, offset, pos))
        return rank is not None and (
            counts.get((word, pos, rank), 0) >= 1 or (pos == "a" and rank == 1)
        )

    def kept(pos, lexfile):
        return pos != "n" or lexfile in NOUN_FILES

    def usable(word):
        return word.isalpha() and len(word) > 2

    # Poles: the synsets that stand in an antonym relation (point 1 of the docstring).
    opposite = set()
    # The words of two synsets an antonym pointer links stand for their poles in any sense,
    # however rare: the pointer is WordNet's word that they are opposites
    # ("appreciate"/"depreciate" of a currency).
    word_poles = {}
    for (offset, pos), (lexfile, words, pointers) in synsets.items():
        if not kept(pos, lexfile):
            continue
        for symbol, target, target_pos, source_target in pointers:
            target_file, target_words, _ = synsets[(target, target_pos)]
            if symbol == "!" and kept(target_pos, target_file):
                a, b = f"{pos}{offset}", f"{target_pos}{target}"
                opposite.add((min(a, b), max(a, b)))
                for word, pole in [(w, a) for w in words] + [(w, b) for w in target_words]:
                    if usable(word):
                        word_poles.setdefault(word, set()).add(pole)
    poles = {p for pair in opposite for p in pair}

    # Each word's poles: the pole synsets it belongs to, the adjective heads its satellites
    # are similar to, the heads its adjective sees also, the verbs it is a way of doing.
    reach = {"a": {"&", "^"}, "v": {"@"}}
    for (offset, pos), (lexfile, words, pointers) in synsets.items():
        if not kept(pos, lexfile):
            continue
        mine = {f"{pos}{offset}"} & poles
        for symbol, target, target_pos, _ in pointers:
            if symbol in reach.get(pos, ()) and f"{target_pos}{target}" in poles:
                mine.add(f"{target_pos}{target}")
        if not mine:
            continue
        for word in words:
            if usable(word) and common(word, offset, pos):
                word_poles.setdefault(word, set()).update(mine)

    used = {p for ps in word_poles.values() for p in ps}
    opposite = {(a, b) for a, b in opposite if a in used and b in used}
    # Short numbers instead of synset offsets keep the table small; the numbering follows the
    # sorted offsets, so it is stable between runs.
    number = {p: str(i) for i, p in enumerate(sorted(used))}
    lemmas = set(word_poles)
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
    with open(os.path.join(HERE, "poles.tsv"), "w", encoding="utf-8") as f:
        f.write(header)
        f.write("# A word, then the numbers of the poles (antonym synsets) it stands for.\n")
        for word in sorted(word_poles):
            ids = sorted(int(number[p]) for p in word_poles[word])
            f.write(f"{word}\t{' '.join(map(str, ids))}\n")
    with open(os.path.join(HERE, "opposite_poles.tsv"), "w", encoding="utf-8") as f:
        f.write(header)
        f.write("# Two poles WordNet calls antonyms, each pair once.\n")
        for a, b in sorted((int(number[a]), int(number[b])) for a, b in opposite):
            f.write(f"{a}\t{b}\n")
    with open(os.path.join(HERE, "inflections.tsv"), "w", encoding="utf-8") as f:
        f.write(header)
        f.write("# Irregular form, then its base form.\n")
        for form, base in sorted(inflections):
            f.write(f"{form}\t{base}\n")
    print(
        f"{len(word_poles)} words, {len(opposite)} opposite poles, "
        f"{len(inflections)} inflections",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
