"""The small built-in lexicon that backs what rewriting learns from a corpus: common attribute categories,
generic nouns, contradicting relations and positions, and relations that a swap must never produce.

It is a prior, not a closed list: attribute words outside it are typed from the corpus
(``vocabulary.py``), relations outside it are swapped only to contradictions the corpus itself shows.
"""

# Attribute categories: a word is replaced only by another word of its category. A word may be in one
# category only; "light"/"dark" are brightness, "short" is length.
ATTRIBUTE_TYPES = {
    "colour": """red green blue yellow purple orange pink brown black white gray grey silver gold golden beige tan
        cyan magenta teal crimson amber navy maroon violet indigo turquoise lime olive scarlet ivory cream lavender
        khaki aqua coral salmon burgundy charcoal emerald ruby bronze copper mauve ochre azure cobalt fuchsia lilac
        mint peach plum rust sapphire slate tangerine vermilion jade cerulean chartreuse mustard blond blonde
        brunette auburn""",
    "size": """small large big tiny huge little giant massive medium enormous miniature gigantic oversized mini
        jumbo colossal immense vast petite""",
    "length": "long short tall lengthy",
    "width": "wide narrow thick thin broad slim skinny",
    "material": """wooden wood metal metallic plastic glass rubber stone brick leather paper cardboard ceramic
        concrete steel iron cotton wool woolen woollen silk marble clay porcelain fabric denim velvet wicker
        bamboo aluminum aluminium tin granite crystal foam felt straw""",
    "finish": "shiny matte glossy dull reflective",
    "age": "old young new ancient modern elderly antique",
    "pattern": "striped spotted checkered plaid dotted polka floral patterned plain solid",
    "brightness": "bright dark light pale dim",
    "temperature": "hot cold warm cool frozen",
    "fullness": "empty full",
    "cleanliness": "clean dirty messy tidy",
    "wetness": "wet dry",
    "openness": "open closed",
    "speed": "fast slow",
    "mood": "happy sad smiling angry",
    "shape": "round square rectangular triangular circular oval spherical cubic cylindrical flat curved",
}
WORD_TYPES = {w: t for t, ws in ATTRIBUTE_TYPES.items() for w in ws.split()}

# Nouns that name any thing (hypernyms) or things in general: never swapped, never a replacement. Swapping
# "a teal shape" for "a teal bar" may state what the image shows; a noun counted by the caption
# ("two objects", "2 rings including ...") is not swapped either (see parse.py).
GENERIC_NOUNS = frozenset("""thing object item shape figure form something anything everything stuff entity one
    piece part element unit kind type sort people person someone somebody anyone everyone individual animal
    creature vehicle furniture food plant device structure toy solid polygon geometry body group set pair
    lot bunch number other""".split())

# Words of a place in the picture ("at the top left", "on the right") and their contradictions.
POSITION_WORDS = frozenset("left right top bottom center centre middle front back side corner edge upper lower "
                           "background foreground distance".split())
POSITION_ANTONYMS = {"left": "right", "right": "left", "top": "bottom", "bottom": "top", "upper": "lower",
                     "lower": "upper", "front": "back", "back": "front", "foreground": "background",
                     "background": "foreground"}

# Word antonyms inside a relation: "to the left of" -> "to the right of", "higher than" -> "lower than".
RELATION_WORD_ANTONYMS = {
    "left": "right", "right": "left", "above": "below", "below": "above", "over": "under", "under": "over",
    "top": "bottom", "bottom": "top", "front": "back", "back": "front", "inside": "outside", "outside": "inside",
    "before": "after", "after": "before", "east": "west", "west": "east", "north": "south", "south": "north",
    "upper": "lower", "lower": "upper", "higher": "lower", "bigger": "smaller", "larger": "smaller",
    "smaller": "larger", "taller": "shorter", "shorter": "taller",
}
# Whole relations that contradict each other (both directions are added).
RELATION_ANTONYMS = [
    ("in front of", "behind"), ("on top of", "under"), ("on top of", "below"), ("on top of", "beneath"),
    ("on top of", "underneath"), ("on", "under"), ("on", "beneath"), ("on", "underneath"), ("on", "below"),
    ("above", "below"), ("above", "under"), ("above", "beneath"), ("above", "underneath"), ("over", "under"),
    ("over", "below"), ("over", "beneath"), ("over", "underneath"), ("ahead of", "behind"),
    ("inside", "outside"), ("inside", "outside of"), ("in", "outside"), ("in", "outside of"), ("within", "outside"),
    ("left of", "right of"), ("to the left of", "to the right of"), ("on the left of", "on the right of"),
    ("at the left of", "at the right of"), ("on the left side of", "on the right side of"),
    ("to the left side of", "to the right side of"), ("higher than", "lower than"),
    ("bigger than", "smaller than"), ("larger than", "smaller than"), ("taller than", "shorter than"),
]
# Relations that say only that two things are close (implied by most others): never a replacement, and
# not swapped themselves (nothing contradicts them).
WEAK_RELATIONS = frozenset({
    "near", "by", "beside", "around", "with", "alongside", "nearby", "at", "among", "between", "along", "against",
    "touching", "next to", "close to", "adjacent to", "near to", "on the side of", "by the side of"})
# Verbs that state presence or inclusion rather than a relation an image can refute.
NON_RELATION_VERBS = frozenset("be have include contain show feature depict display consist comprise make "
                               "appear seem look".split())


def relation_antonyms():
    """relation -> the relations of the lexicon that contradict it."""
    out = {}
    for a, b in RELATION_ANTONYMS:
        out.setdefault(a, set()).add(b)
        out.setdefault(b, set()).add(a)
    return out
