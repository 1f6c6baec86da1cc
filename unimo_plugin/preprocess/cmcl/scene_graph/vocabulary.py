"""The vocabulary of a caption split: its scene-graph elements of each kind and class, with counts and the
forms the corpus writes them in, from which a swap draws its replacement."""
import bisect
import collections
import json
import os

from lemminflect import getInflection

from ....common.artifacts import InputError, atomic_output
from ....formats.caption_sets import CAPTIONS_SUFFIX


class Vocabulary:
    """The elements of each kind and class seen in a caption split, with counts and written forms."""

    def __init__(self, entries):
        self.entries = entries  # "kind/cls" -> [[key, count, {tag: form}], ...], most frequent first
        self._tables = {}  # "kind/cls" -> keys, cumulative counts, index of each key, forms of each key
        for group, rows in entries.items():
            cumulative, total = [], 0
            for row in rows:
                total += row[1]
                cumulative.append(total)
            self._tables[group] = ([r[0] for r in rows], cumulative, {r[0]: i for i, r in enumerate(rows)},
                                   {r[0]: r[2] for r in rows})

    @classmethod
    def build(cls, graphs):
        counts, forms = collections.Counter(), collections.Counter()
        for graph in graphs:
            for slot in graph.slots:
                counts[f"{slot.kind}/{slot.cls}", slot.key] += 1
                forms[f"{slot.kind}/{slot.cls}", slot.key, slot.tag, slot.text.lower()] += 1
        best = {}  # the commonest form of each key and tag (alphabetical among equals)
        for (group, key, tag, form), n in sorted(forms.items(), key=lambda kv: (-kv[1], kv[0])):
            best.setdefault((group, key), {}).setdefault(tag, form)
        entries = collections.defaultdict(list)
        for (group, key), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
            entries[group].append([key, n, best[group, key]])
        return cls(dict(entries))

    def has_alternative(self, slot):
        """Whether the slot's kind and class hold a key other than its own."""
        table = self._tables.get(f"{slot.kind}/{slot.cls}")
        return table is not None and (len(table[0]) > 1 or table[0][0] != slot.key)

    def sample(self, rng, slot):
        """A key of the slot's kind and class other than its own, drawn in proportion to its count."""
        keys, cumulative, index, _ = self._tables[f"{slot.kind}/{slot.cls}"]
        own = index.get(slot.key)
        low = cumulative[own - 1] if own else 0
        own_count = cumulative[own] - low if own is not None else 0
        r = rng.random() * (cumulative[-1] - own_count)
        if own is not None and r >= low:
            r += own_count
        return keys[min(bisect.bisect_right(cumulative, r), len(keys) - 1)]

    def form(self, slot, key):
        """``key`` written in the slot's form: the corpus's own form if seen, else inflected."""
        seen = self._tables[f"{slot.kind}/{slot.cls}"][3][key]
        if slot.tag in seen:
            return seen[slot.tag]
        words = key.split()
        if slot.kind == "object":  # the head noun is the last word
            words[-1] = (getInflection(words[-1], slot.tag) or (words[-1],))[0]
        elif slot.tag:  # a verb relation: its first word carries the form
            words[0] = (getInflection(words[0], slot.tag) or (words[0],))[0]
        return " ".join(words)

    def save(self, path, source):
        """JSON with one entry per line, most frequent first, for a person to read."""
        groups = [f"  {json.dumps(group)}: [\n" + ",\n".join(f"    {json.dumps(row, ensure_ascii=False)}"
                                                             for row in rows) + "]"
                  for group, rows in self.entries.items()]
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(f'{{"source": {json.dumps(source)},\n "vocabulary": {{\n' + ",\n".join(groups) + "}}\n")

    @classmethod
    def load(cls, path, source):
        """The vocabulary saved at ``path`` if it was built from ``source``, else None."""
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            try:
                saved = json.load(f)
            except json.JSONDecodeError as e:
                raise InputError(path, f"not a vocabulary file ({e}); delete it to rebuild it", line=e.lineno)
        if not isinstance(saved, dict) or not isinstance(saved.get("vocabulary"), dict):
            raise InputError(path, "not a vocabulary file (no \"vocabulary\" object); delete it to rebuild it")
        return cls(saved["vocabulary"]) if saved.get("source") == source else None


def vocabulary_split(pairs_dir, split, vocab_from):
    """``(dir, split)`` the vocabulary comes from: ``vocab_from`` names a split of ``pairs_dir`` or a
    ``*.captions.jsonl`` file."""
    if not vocab_from:
        return pairs_dir, split
    if vocab_from.endswith(CAPTIONS_SUFFIX):
        return os.path.dirname(vocab_from) or ".", os.path.basename(vocab_from)[:-len(CAPTIONS_SUFFIX)]
    return pairs_dir, vocab_from
