"""Pure Block Kit builders: view models in → lists of block dicts out. No Slack calls, no SQL.

Every user-derived string goes through `common.escape` (or `common.code_cell` inside code
blocks), so names and emails cannot inject mentions, `<!channel>` or links.
"""
