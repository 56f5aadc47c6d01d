"""Placeholder: the evaluate command is written in spacy_bioner/cli/evaluate.py."""
