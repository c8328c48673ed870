"""Importers: spreadsheets and files in, validated rows out, every problem reported."""
