"""Stage ``report``: the self-contained HTML dashboard."""

from cortexplorer.lazy import lazy_exports

__all__ = ["DashboardSettings", "build_dashboard"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "dashboard": ["build_dashboard"],
    "settings": ["DashboardSettings"],
})
