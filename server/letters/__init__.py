"""Family letters: the household's language and the printed letter (schemas/letters.py)."""
