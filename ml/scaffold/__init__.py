"""`new-pipeline`: a pipeline folder from a CSV, and the CSV split into landing spans.

- `pipeline`: `write_pipeline`, the folder (pipeline.yaml, module.py, schema.pbtxt) and the landing;
- `source`: the CSV file(s) as read in chunks (separators, BOM, gzip, names);
- `scan`: the passes over the file (profile, key, landing);
- `profile`: what each column holds, and the types, ranges and defaults inferred from it;
- `timestamps`: a timestamp column read as UTC instants.
Kept light: the CLI's parser imports this package (its timestamp units) without pandas.
"""
