"""Drift monitoring: what live traffic looked like, against the data a model learned from.

    module        holds
    reservoir     a bounded, mergeable uniform sample of rows (bottom-k sampling)
    sketch        TrafficSketch: a batch of scored pairs in summary, what the scorer flushes
    reference     a dataset version's descriptor profile and a seeded sample of its rows
    windows       the last N pairs, hour, day and each screening job, as buckets of sketches
    drift         per feature statistics (scipy, Evidently's defaults), dataset and score drift
    report_page   a report as one HTML page with inline SVG histograms

The Monitor grain that holds a model's windows is ``actors.monitor``; the scorer's feed of it
lives in ``scoring``, which sits above this package.
"""

from repurpose.monitoring.reference import Reference, build_reference
from repurpose.monitoring.sketch import RESERVOIR_SIZE, TrafficSketch

__all__ = ["RESERVOIR_SIZE", "Reference", "TrafficSketch", "build_reference"]
