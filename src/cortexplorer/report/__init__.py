"""Stage ``report``: the self-contained HTML dashboard."""

from cortexplorer.report.dashboard import DashboardSettings, build_dashboard

__all__ = ["DashboardSettings", "build_dashboard"]
