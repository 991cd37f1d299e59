"""The field app's copy of the assessment factors (server/app_shell/static/js/factors.js) is the
server's (schemas.casework.FACTORS): the same codes, in the same order, with the same categories
and labels. The app cannot ask ``GET /assessment-factors`` (it speaks only the sync protocol), so
this is what keeps the two from drifting apart."""

from __future__ import annotations

import json
import re

from schemas.casework import FACTORS, FactorCategory
from server.app_shell import STATIC

SOURCE = (STATIC / "js" / "factors.js").read_text()


def test_the_app_lists_every_factor_with_the_servers_category_and_label_in_its_order() -> None:
    (listed,) = re.findall(r"^export const FACTORS = (\[.*?^\]);$", SOURCE, re.MULTILINE | re.DOTALL)
    app = [(f["code"], f["category"], f["label"]) for f in json.loads(listed)]
    server = [(code.value, category.value, label) for code, (category, label) in FACTORS.items()]
    assert app == server


def test_the_app_heads_a_group_for_every_category_in_the_servers_order() -> None:
    (block,) = re.findall(r"^export const CATEGORIES = \{(.*?)^\};$", SOURCE, re.MULTILINE | re.DOTALL)
    assert re.findall(r"^  (\w+): ", block, re.MULTILINE) == [c.value for c in FactorCategory]
