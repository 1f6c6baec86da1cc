"""Phrase- and word-level hard negatives for CMCL: captions rewritten by swapping one scene-graph element.

``parse.py`` finds a caption's swappable elements, ``vocabulary.py`` holds the corpus's elements of
each kind, ``rewrite.py`` makes one caption's negatives and ``run.py`` those of a caption split, as one
sharded run.

Each caption is parsed into a scene graph (spaCy + SceneGraphParser): objects (entity head nouns),
attributes (adjectives modifying them) and relations (verbs, prepositions and phrasal prepositions
linking two objects). A negative swaps ONE of these elements for another of the same kind drawn from
the corpus's own vocabulary of that kind, weighted by frequency, so the negative stays in the
caption's domain and differs from it in exactly one thing the image can refute.

Kinds are further split into classes so that a swap stays sensible: objects and their attributes by
what the object is (a position in the picture such as "the left", a scene such as "a street", or a
thing), relations into verbs and prepositions. Nouns keep their number and verbs their form
(lemminflect, or the form the corpus itself uses), and an "a"/"an" before the swapped words is made
to agree with them.

Level rule: a swap is ``"phrase"`` level when the replaced words or their replacement span more than
one word (a compound noun "space suit", a phrasal verb "sitting on", a phrasal preposition "to the left
of"), else ``"word"`` level. Attribute swaps are therefore always word level.

A negative is never equal (after lower-casing and dropping punctuation) to a true caption of the same
image, to the caption itself or to another negative of the caption. Every random draw takes a
generator keyed by the seed and the caption, so outputs do not depend on worker count or sharding.
"""
