#!/usr/bin/env python3
"""Classify videos with nlnet from PySpark: the paths are an RDD, and each partition is piped
through one `nlnet classify @- --jsonl - --keep-going` process (RDD.pipe): paths in on its
standard input, one JSON line per video back on its standard output as each finishes. A video
that cannot be read comes back as {"path", "error"} and the rest go on.

Local mode, as run for the docs (needs Java, and `pip install pyspark`):

    python3 -m venv /tmp/spark && /tmp/spark/bin/pip install pyspark
    /tmp/spark/bin/python Scripts/spark_classify.py Clips/synthetic --partitions 2

On a cluster, pass --master (or run under spark-submit) with nlnet installed on every worker
and the videos on storage every worker reads; see docs/scale-out.md.
"""
import argparse
import json
import os
import shlex
import shutil
import sys

from pyspark.sql import SparkSession

VIDEO_ENDINGS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".gif")


def video_paths(arguments):
    """Absolute paths of the videos named or found under the folders named (workers may start
    in another directory). A path that does not exist is kept: nlnet reports it as an error."""
    found = []
    for argument in arguments:
        if os.path.isdir(argument):
            for folder, _, names in sorted(os.walk(argument)):
                found += [os.path.abspath(os.path.join(folder, n)) for n in sorted(names) if n.lower().endswith(VIDEO_ENDINGS)]
        else:
            found.append(os.path.abspath(argument))
    return found


def shown(path):
    """A path under the working directory relative to it, any other as it is."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="videos, or folders searched for videos")
    parser.add_argument("--nlnet", default=shutil.which("nlnet") or os.path.abspath(".build/release/nlnet"),
                        help="the nlnet executable on the workers (default: nlnet on PATH, else .build/release/nlnet)")
    parser.add_argument("--master", default="local[2]", help="Spark master (default: local[2])")
    parser.add_argument("--partitions", type=int, default=2, help="partitions: one nlnet process each")
    parser.add_argument("--threads", type=int, default=1, help="NLNET_THREADS of each nlnet process")
    parser.add_argument("--nlnet-options", default="", help="more options for nlnet classify, e.g. '--clips 2 --crops 1 --top 1'")
    parser.add_argument("--output", help="also save the records as JSON lines in this folder (Spark's saveAsTextFile)")
    args = parser.parse_args()

    paths = video_paths(args.paths)
    command = [args.nlnet, "classify", "@-", "--jsonl", "-", "--keep-going", "--quiet"] + shlex.split(args.nlnet_options)
    spark = SparkSession.builder.master(args.master).appName("nlnet-classify").getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    try:
        # RDD.pipe replaces the environment of the process it starts: pass ours on, with the
        # thread count (one partition per core: one thread each).
        environment = dict(os.environ, NLNET_THREADS=str(args.threads))
        lines = spark.sparkContext.parallelize(paths, args.partitions).pipe(shlex.join(command), env=environment, checkCode=True)
        records = lines.map(json.loads)
        if args.output:
            lines.saveAsTextFile(args.output)
        results = records.collect()
    finally:
        spark.stop()

    failed = [r for r in results if "error" in r]
    print(f"{len(results)} videos in {args.partitions} partitions, {len(failed)} failed")
    for r in results:
        if "error" in r:
            print(f"  {shown(r['path'])}: error: {r['error']}")
        else:
            best = r["top"][0]
            print(f"  {shown(r['path'])}: {best['label']} ({best['probability']:.3f})")
    return 0 if len(results) == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main())
