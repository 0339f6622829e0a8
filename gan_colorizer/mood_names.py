"""The named moods and the colour-temperature range, as plain data: what `mood.py` implements and what
the command line's `--help` lists, readable without importing torch (so help stays fast)."""

# One line each, for --help; mood.MOODS holds each one's target statistics under the same names.
MOOD_DESCRIPTIONS: dict[str, str] = {
    "warm": "yellow-orange cast, like indoor tungsten light",
    "cool": "blue cast, like shade or an overcast day",
    "vivid": "more colourful, cast kept",
    "muted": "less colourful, cast kept",
    "sepia": "brown-toned print, almost no other colour",
    "golden-hour": "strong orange light of a low sun",
    "vintage": "faded colour print: mild warm cast, dull colours",
    "moonlight": "night: blue cast, little colour",
}

# Colour temperatures users may ask for, in kelvin: household tungsten (2700 K) to blue-sky shade (10000 K).
TEMPERATURE_RANGE = (2700, 10000)
