"""Run in a worker container (`python -c ... PIPELINE REFERENCE_ROOT SPAN...`): every span
ingested again, undisturbed, into another artifact root; prints {span: {done, reference}}."""

import json
import sys

from ml.config import load_pipeline
from ml.data.ingest import ingest_span
from ml.roots import Roots
from ml.spans import SpanPaths

pipeline, reference, *spans = sys.argv[1:]
cfg = load_pipeline(pipeline)
out = {}
for span in spans:
    done = SpanPaths(cfg, Roots.resolve()).examples_dir(span)
    again = ingest_span(cfg, Roots.resolve(artifacts=reference), span).examples_dir
    out[span] = {"done": str(done), "reference": again}
print(json.dumps(out))
