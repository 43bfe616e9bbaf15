"""Stage ``group``: per-participant tables and their mean and spread across participants."""

from cortexplorer.lazy import lazy_exports

__all__ = ["GroupSettings", "dice_to_others", "group_summary", "participant_table", "summarise"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "summary": ["dice_to_others", "group_summary", "participant_table", "summarise"],
    "settings": ["GroupSettings"],
})
