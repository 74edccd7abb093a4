"""Every Slack id the bot uses: slash command, action, block and callback ids.

Builders and listeners share these names, so a renamed id cannot leave a button without a
handler. `incident_ack` / `incident_resolve` / `incident_snooze` are fixed by docs/contract.md.
"""

from __future__ import annotations

from enum import StrEnum

SLASH_COMMAND = "/abacus"


class ActionId(StrEnum):
    USERS_PREV = "users_prev"
    USERS_NEXT = "users_next"
    USERS_SORT = "users_sort"
    SETTINGS_EDIT = "settings_edit"
    SETTINGS_PREVIEW = "settings_preview"  # in the settings modal: backtest the typed values
    KEY_MAP = "key_map"
    HOME_REFRESH = "home_refresh"
    ALERTS_RETRY = "alerts_retry"  # App Home: send again the alert messages given up on
    INCIDENT_ACK = "incident_ack"
    INCIDENT_RESOLVE = "incident_resolve"
    INCIDENT_SNOOZE = "incident_snooze"  # static_select: option values are IncidentRef(id, snooze)
    INCIDENT_DETAILS = "incident_details"  # the person's report, privately
    IMPORT_CONFIRM = "import_confirm"  # a shared CSV's preview: Import …
    IMPORT_CANCEL = "import_cancel"  # … or Cancel
    IMPORT_MOVES = "import_moves"  # HiBob preview: checkboxes of the moves to apply
    GROUP_CREATE = "group_create"  # App Home: groups
    GROUP_RENAME = "group_rename"
    GROUP_ASSIGN = "group_assign"
    GROUP_NAME_INPUT = "group_name_input"
    GROUP_EMAIL_INPUT = "group_email_input"
    GROUP_SELECT = "group_select"
    # inputs inside modals (their values arrive in view.state.values)
    MAP_EMAIL_INPUT = "map_email_input"
    SETTING_INPUT = "setting_input"


class BlockId(StrEnum):
    USERS_TABLE = "users_table"
    USERS_NAV = "users_nav"
    SETTINGS_ACTIONS = "settings_actions"
    SETTINGS_BACKTEST = "settings_backtest"
    HOME_ACTIONS = "home_actions"
    MAP_EMAIL = "map_email"
    # one input block per setting in the settings modal: f"{SETTING_PREFIX}{key}"
    SETTING_PREFIX = "setting:"
    UNMAPPED_KEY_PREFIX = "unmapped:"
    # the actions block of one incident in an alert or summary message: f"{INCIDENT_PREFIX}{id}"
    INCIDENT_PREFIX = "incident:"
    HOME_INCIDENTS = "home_incidents"
    HOME_DELIVERY = "home_delivery"
    IMPORT_ACTIONS = "import_actions"
    GROUP_ACTIONS = "group_actions"
    GROUP_NAME = "group_name"
    GROUP_EMAIL = "group_email"
    GROUP_CHOICE = "group_choice"
    # one checkbox block per ten HiBob moves: f"{IMPORT_MOVES_PREFIX}{n}"
    IMPORT_MOVES_PREFIX = "import_moves:"


class CallbackId(StrEnum):
    MAP_KEY_MODAL = "map_key_modal"
    SETTINGS_MODAL = "settings_modal"
    GROUP_NAME_MODAL = "group_name_modal"  # create or rename (private_metadata says which)
    GROUP_ASSIGN_MODAL = "group_assign_modal"
