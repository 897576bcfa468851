"""The HTML report: one self-contained page, a histogram per feature, every text escaped."""

from __future__ import annotations

import re

import numpy as np

from repurpose.data.descriptors import PROFILE_FEATURES
from repurpose.monitoring.drift import monitor_report
from repurpose.monitoring.report_page import report_page
from tests.monitoring.test_drift import sketch_of, synthetic_reference


def test_the_page_draws_every_feature_and_fetches_nothing() -> None:
    rng = np.random.default_rng(0)
    reference = synthetic_reference(5000, {name: rng.normal(0, 1, 1000) for name in PROFILE_FEATURES})
    reference.dataset_name = "<script>alert(1)</script> & co"
    sketch = sketch_of({name: rng.normal(1, 1, 600) for name in PROFILE_FEATURES}, reference.edges())
    report = monitor_report(
        model="knn-union",
        window="hour",
        sketch=sketch,
        reference=reference,
        no_reference=None,
        baseline=None,
        dropped=3,
        since=None,
    )
    page = report_page(report)

    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert not re.search(r"(?:src|href)=", page)  # nothing to load: no script, stylesheet, font or image
    assert page.count("<svg") == len(PROFILE_FEATURES) + 2  # each feature, the scores, the Tanimoto
    for name in PROFILE_FEATURES:
        assert f"<h2>{name}</h2>" in page
    assert "dataset drift: yes (8 of 8 features drifted, share 1.00)" in page
    assert "600 pairs in the window; 3 dropped" in page
    assert "out of the model&#x27;s domain: 25.0% of 600 pairs" in page
    # a bin's bar carries its share as a tooltip; shares of one side sum to 100 %
    heights = re.findall(r'fill="#1f77b4"><title>[^<]*: ([0-9.]+)%</title>', page)
    assert abs(sum(float(h) for h in heights[:4]) - 100) < 0.5
