"""Stage ``report``: the self-contained HTML dashboard and its figures."""

from cortexplorer.report.dashboard import build_dashboard

__all__ = ["build_dashboard"]
