"""The history charts in emails (issue 18): the chart as a ``cid:`` image beside the HTML body, its
numbers as text lines for the plain body, and the image's alt text naming the months with data
(``outputs/chart_text.py``: runs of months without data said once, issue 23).

The charts are drawn here, when an email is built (``outputs/charts.py``, imported only then).
"""

from __future__ import annotations

import base64
import re
from email.message import EmailMessage

from include.dms_billing.core.history import ClientHistory, FinanceHistory
from include.dms_billing.mail.headers import Envelope, content_id, inline_image

Chart = dict[str, object]  # what a template's chart block reads: cid, alt, width, height (and the png)


def _chart(envelope: Envelope, png: bytes, alt: str) -> Chart:
    """The chart as the HTML shows it: a ``cid:`` image and its text alternative."""
    from include.dms_billing.outputs.charts import HEIGHT, WIDTH

    return {"cid": content_id(envelope, png), "png": png, "alt": alt, "width": WIDTH, "height": HEIGHT}


def with_chart(msg: EmailMessage, chart: Chart | None) -> EmailMessage:
    if chart is not None:
        inline_image(msg, chart["png"], chart["cid"])
    return msg


def client_chart(envelope: Envelope, history: ClientHistory | None) -> tuple[list[str] | None, Chart | None]:
    if history is None:
        return None, None
    from include.dms_billing.outputs.chart_text import client_chart_alt, client_history_lines
    from include.dms_billing.outputs.charts import client_chart_png

    chart = _chart(envelope, client_chart_png(history), client_chart_alt(history))
    return client_history_lines(history), chart


_DATA_PNG = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def inline_data_images(envelope: Envelope, html: str) -> tuple[str, list[tuple[bytes, str]]]:
    """The HTML with each ``data:`` PNG (the invoice's chart) as a ``cid:`` part instead: many
    email clients show no data URI. The PDF keeps its own copy."""
    found: list[tuple[bytes, str]] = []

    def to_cid(match: re.Match[str]) -> str:
        png = base64.b64decode(match.group(1), validate=True)
        found.append((png, content_id(envelope, png)))
        return f'src="cid:{found[-1][1]}"'

    return _DATA_PNG.sub(to_cid, html), found


def finance_chart(envelope: Envelope, history: FinanceHistory | None) -> tuple[list[str] | None, Chart | None]:
    if history is None:
        return None, None
    from include.dms_billing.outputs.chart_text import finance_chart_alt, finance_history_lines
    from include.dms_billing.outputs.charts import finance_chart_png

    chart = _chart(envelope, finance_chart_png(history), finance_chart_alt(history))
    return finance_history_lines(history), chart
