#!/usr/bin/env python3
"""Writes stories.txt: short, simple stories generated from a small grammar (about 200 KB).

The character-level language model example (examples/char_lm) learns from it. Generated rather than
copied, so that it is free of any copyright; deterministic (a fixed seed), so that the committed file
can be regenerated exactly:  python3 make_stories.py
"""
import os
import random

rng = random.Random(2026)

NAMES = {"Tom": "he", "Lily": "she", "Ben": "he", "Mia": "she", "Sam": "he", "Anna": "she", "Max": "he",
         "Lucy": "she", "Jack": "he", "Emma": "she", "Leo": "he", "Nora": "she"}
ANIMALS = ["cat", "dog", "fox", "bird", "rabbit", "bear", "duck", "mouse", "frog", "owl"]
ADJ = ["little", "big", "happy", "sleepy", "brave", "kind", "funny", "shy", "old", "small"]
COLORS = ["red", "blue", "green", "yellow", "white", "brown", "pink", "black"]
THINGS = ["ball", "kite", "box", "hat", "boat", "book", "cake", "flower", "stone", "shell", "toy", "cup"]
PLACES = ["the garden", "the park", "the forest", "the river", "the hill", "the house", "the beach",
          "the farm", "the lake", "the village"]
FEEL = ["happy", "sad", "tired", "hungry", "scared", "excited", "proud", "surprised"]
WEATHER = ["sunny", "rainy", "windy", "cold", "warm", "quiet"]
TIMES = ["One day", "One morning", "Later that day", "In the evening", "The next day", "Once upon a time"]


def who():
    if rng.random() < 0.5:
        name = rng.choice(sorted(NAMES))
        return name, name, NAMES[name]
    animal = rng.choice(ANIMALS)
    return f"a {rng.choice(ADJ)} {animal}", f"the {animal}", "it"


def thing():
    return f"{rng.choice(COLORS)} {rng.choice(THINGS)}"


def story():
    first, again, pron = who()
    friend_first, friend, _ = who()
    obj, place, other_place = thing(), rng.choice(PLACES), rng.choice(PLACES)
    feel = rng.choice(FEEL)
    s = [f"{rng.choice(TIMES)}, {first} went to {place}.",
         f"It was a {rng.choice(WEATHER)} day."]
    s.append(rng.choice([
        f"{pron.capitalize()} found a {obj} under a tree.",
        f"There {pron} saw a {obj} near the water.",
        f"{again.capitalize()} wanted to find a {obj}.",
    ]))
    s.append(rng.choice([
        f"{again.capitalize()} was very {feel}.",
        f"{pron.capitalize()} felt {feel} and sat down.",
        f"\"Look at this!\" said {again}.",
    ]))
    s.append(rng.choice([
        f"Then {friend_first} came to play.",
        f"Soon {friend_first} walked by and said hello.",
        f"After a while, {friend_first} came from {other_place}.",
    ]))
    s.append(rng.choice([
        f"They played with the {obj} all day.",
        f"They shared the {obj} and laughed.",
        f"{friend.capitalize()} helped {again} carry the {obj} home.",
        f"Together they took the {obj} to {other_place}.",
    ]))
    s.append(rng.choice([
        f"At night, {again} went to sleep with a smile.",
        f"{again.capitalize()} and {friend} were good friends.",
        "It was the best day ever.",
        f"The {obj} was safe, and everyone was {rng.choice(['happy', 'glad', 'proud'])}.",
    ]))
    return " ".join(s)


text, size = [], 0
while size < 200_000:
    st = story()
    text.append(st)
    size += len(st) + 2
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stories.txt")
with open(out, "w") as f:
    f.write("\n\n".join(text) + "\n")
print("wrote", out, size, "bytes")
