"""Personas: how a number writes (style, vocabulary, emoji and typos, greetings per daypart)."""
