"""The one vocabulary of the synthetic data: every generator under testing/ names its objects with these
words, in this order (generators index them, so the order is part of the data they write).

A model or BPE trained on one synthetic set thus reads the words of another, and the tests' rules
("the colour of the pictured object") mean the same thing everywhere.
"""
COLOURS = ("red", "green", "blue", "yellow", "purple", "orange")
SHAPES = ("circle", "square", "triangle", "star")
SIZES = ("small", "large")
SIDES = ("left", "right")
RELATIONS = ("to the left of", "to the right of", "above", "below")  # where one object lies from another
