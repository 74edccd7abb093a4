"""File importers: vendor exports (Cursor usage CSV, Claude Console usage and cost exports) and the
HiBob people directory turned into core records.

One module per format; `formats` recognises a file by its header row and `values` reads the cells as
real exports write them. `reader.read_file` streams a file through the right importer and collects
row errors; storage and the CLI/Slack service live outside core (bot/import_service.py).
"""
