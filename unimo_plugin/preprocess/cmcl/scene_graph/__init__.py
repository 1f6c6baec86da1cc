"""Phrase- and word-level hard negatives for CMCL: captions rewritten by swapping one scene-graph element.

``parse.py`` finds a caption's swappable elements and noun phrases, ``vocabulary.py`` learns from the
whole split what may replace what (backed by ``lexicon.py``), ``rewrite.py`` makes one caption's
negatives, ``plausibility.py`` drops those a text model could spot, and ``run.py`` rewrites a caption
split as one sharded run.

Each caption is parsed into a scene graph (spaCy + SceneGraphParser): noun phrases (a head noun and its
modifiers), relations (verbs, prepositions and phrasal prepositions linking two phrases) and places in
the picture ("at the top"). A negative swaps ONE element (or trades two of one kind between two
phrases), so that it stays well-formed and is false of the image rather than merely less precise:

- an attribute for another of the same type (colour by colour, size by size), never one the corpus uses
  for the same thing ("big"/"large");
- an object's noun for a co-hyponym (another specific noun of the corpus), never a generic noun or
  hypernym ("shape", "object", "thing") and never a counted noun ("2 rings including ..."); or a whole
  plain noun phrase for another of the same attribute types ("a small red circle" -> "a large blue star");
- a preposition for one that contradicts it (left/right, above/below, on/under, in front of/behind),
  never for one it implies ("near", "next to", "by"); a verb for another verb; a place for its opposite.
- or two noun phrases trade an attribute of one type or their nouns ("a small red circle above a large
  blue square" -> "a small blue circle above a large red square"), where that changes what is said.

Nouns keep their number and verbs their form (lemminflect, or the form the corpus itself uses), and an
"a"/"an" before the swapped words is made to agree with them.

Level rule: a swap is ``"phrase"`` level when the replaced words or their replacement span more than
one word (a whole noun phrase, a compound noun, a phrasal verb or preposition), else ``"word"`` level.
Each item records ``level`` and ``swapped`` (``kind``, ``type``, ``from``, ``to``).

A negative is never equal (after lower-casing and dropping punctuation) to a true caption of the same
image, to the caption itself or to another negative of the caption. Nothing here reads images or any
ground truth: only the split's own captions. Every random draw takes a generator keyed by the seed and
the caption, so outputs do not depend on worker count or sharding.
"""
