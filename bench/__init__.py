"""``make bench`` (``python -m bench``): the workflow measured side by side with a single-function baseline.

Throughput and acknowledgement time on the local stack, cold start (import time next to ``import boto3``)
and package sizes, cost per million events at AWS list prices, and the local model's hit rate. The figures
are printed as a table and written to ``bench/results.json``; ``docs/performance.md`` explains the method.
"""
