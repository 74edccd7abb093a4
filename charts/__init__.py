"""Abacus charts: plain data in, a ready-to-upload PNG out.

Every function returns a `Chart(png, title, alt_text, filename)`: PNG bytes of exactly
`theme.PIXEL_SIZE` (1200 × 672), a one-line title and one or two sentences of alt text that
state the numbers, so the bot can upload with both. Nothing here knows Slack, SQL or the database.

Charts
------
daily_spend_by_tool(days, spend_by_tool, *, title, subtitle)
    Stacked bars of spend per day by tool (the dashboard).
top_users(rows, *, top=10, title, subtitle)
    rows = [(name, spend)]; horizontal bars, largest at the top, value labels; beyond `top`
    people the rest fold into one "Others (n people)" bar.
user_timeline(days, spend_by_tool, *, tokens=None, title, subtitle)
    One person's daily spend stacked by tool, tokens as a line on a right-hand axis.
model_mix(rows, *, top=8, title, subtitle)
    rows = [(model, spend)]; share of spend per model (`42% · $1,234`), tail folded into "Others".
group_spend(rows, *, top=12, title, subtitle)
    rows = [(group, spend, budget or None)]; bars per billing group with a budget tick, red when over.
adoption(days, active_users, seats=None, *, title, subtitle, seat_label)
    Daily active users as a line against a dashed seats line.
forecast(days_actual, cumulative_actual, days_projected, cumulative_projected, budget=None, *, title, subtitle)
    Cumulative spend (solid), the projection (dashed, continuing from the last actual day), the budget.
spend_split(parts, *, title, subtitle)
    parts = {tool: spend}; a donut of the tool split with the total in the middle.

Conventions
-----------
* Tool keys are `"claude_code"` and `"cursor"` (`core.usage.Source` values work as they are);
  they always get the same colours (`theme.TOOL_COLORS`). Unknown keys get palette colours.
* `days` are `date`s (datetimes are cut to their date); every series has one value per day, else
  `ValueError`. Days may come unsorted; a repeated day is summed (active users: the larger wins).
* NaN, infinities and -0.0 count as 0; spend below zero (credits) is drawn as 0.
* No rows, or nothing but zeros, gives a chart that says so ("No usage in this period") and alt
  text starting "<title>: no data — …". It never raises for empty data.
* `subtitle=None` means a default one (period and totals); pass `""` for none.
* Names are drawn as plain text, stripped of control and bidi-override characters, and cut with
  `…` (28 characters on bars; the title and subtitle are cut to the width of the image).
* Safe to call from several threads: rendering is serialised (see `charts.canvas`).

Formatting helpers (`charts.formatting`): `money_short` (`$1.2k`, `$2.1M`), `tokens_short`
(`350k`, `1.2M`), `money` (`$1,234.56`), `percent`, `clean_label`. Folding: `charts.prepare.fold_tail`.
"""

from charts.adoption import adoption
from charts.canvas import Chart
from charts.formatting import clean_label, money, money_short, percent, tokens_short
from charts.prepare import Slice, fold_tail
from charts.rankings import group_spend, model_mix, top_users
from charts.spend import daily_spend_by_tool, forecast, spend_split, user_timeline

__all__ = [
    "Chart",
    "Slice",
    "adoption",
    "clean_label",
    "daily_spend_by_tool",
    "fold_tail",
    "forecast",
    "group_spend",
    "model_mix",
    "money",
    "money_short",
    "percent",
    "spend_split",
    "tokens_short",
    "top_users",
    "user_timeline",
]
