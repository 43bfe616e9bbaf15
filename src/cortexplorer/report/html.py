"""A self-contained HTML dashboard: every image embedded, no scripts or fonts fetched."""

from __future__ import annotations

import base64
import html
import io
import os
from dataclasses import dataclass, field

import pandas as pd

from cortexplorer.io.atomic import atomic_path

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#b9c2d3;font-size:13px}
nav{padding:8px 32px;background:#e9ecf2;font-size:14px}nav a{margin-right:16px;color:#27468f;text-decoration:none}
main{padding:8px 32px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;padding:16px 20px;margin:18px 0;box-shadow:0 1px 3px rgba(0,0,0,.08)}
h2{font-size:18px;margin:0 0 8px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border-bottom:1px solid #e3e6ec;padding:4px 10px;text-align:left}
th{background:#f0f2f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:10px 0}figure img{max-width:100%;image-rendering:pixelated;border:1px solid #e3e6ec}
figcaption{font-size:13px;color:#4a5263;margin-top:4px}.note{font-size:13px;color:#4a5263}
details{font-size:13px}code{background:#f0f2f6;padding:1px 4px;border-radius:3px}
"""


def png_data_uri(fig_or_bytes) -> str:
    """A ``data:`` URI for a matplotlib figure, a PIL image or PNG bytes."""
    if isinstance(fig_or_bytes, bytes):
        data = fig_or_bytes
    else:
        buf = io.BytesIO()
        if hasattr(fig_or_bytes, "savefig"):
            fig_or_bytes.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        else:
            fig_or_bytes.save(buf, format="PNG")
        data = buf.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _number(v: float) -> str:
    if v != v:  # NaN
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, row in df.iterrows():
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append(f'<td class="num">{_number(v)}</td>')
            elif isinstance(v, int):
                cells.append(f'<td class="num">{v}</td>')
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


@dataclass
class Section:
    anchor: str
    title: str
    parts: list[str] = field(default_factory=list)

    def text(self, s: str) -> Section:
        self.parts.append(f'<p class="note">{s}</p>')
        return self

    def figure(self, image, caption: str, alt: str | None = None) -> Section:
        self.parts.append(f'<figure><img src="{png_data_uri(image)}" alt="{html.escape(alt or caption)}">'
                          f"<figcaption>{html.escape(caption)}</figcaption></figure>")
        return self

    def table(self, df: pd.DataFrame, caption: str | None = None) -> Section:
        if caption:
            self.parts.append(f"<h3>{html.escape(caption)}</h3>")
        self.parts.append(table_html(df))
        return self

    def raw(self, s: str) -> Section:
        self.parts.append(s)
        return self

    def render(self) -> str:
        return f'<section id="{self.anchor}"><h2>{html.escape(self.title)}</h2>{"".join(self.parts)}</section>'


def write_page(path: str | os.PathLike, title: str, subtitle: str, sections: list[Section]) -> None:
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f"<body><header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(s.render() for s in sections)}</main></body></html>\n")
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
