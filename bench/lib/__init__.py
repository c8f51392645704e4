"""Helpers of bench/bench.py: processes, rclone servers, corpora, the report."""
