"""The Markdown report of bench.py's results (the JSON document it writes).

Built from whatever the results hold, so a run that failed halfway still
reports what it measured.
"""

SYNC_COLUMNS = (
    ("elapsed_s", "wall s", "{:.2f}"),
    ("files_per_s", "files/s", "{:,.0f}"),
    ("mb_per_s", "MB/s", "{:,.1f}"),
    ("cpu_s", "CPU s", "{:.2f}"),
    ("cpu_ms_per_file", "CPU ms/file", "{:.3f}"),
    ("cpu_s_per_gb", "CPU s/GB", "{:.2f}"),
    ("peak_rss_mib", "peak RSS MiB", "{:.1f}"),
)
RATIO_COLUMNS = (
    ("files_per_s", "files/s"),
    ("cpu_ms_per_file", "CPU/file"),
    ("mb_per_s", "MB/s"),
    ("cpu_s_per_gb", "CPU/GB"),
)
TOOL_NAMES = {"syncroll": "syncroll", "rclone": "`rclone copy`"}


def markdown(results):
    quick = results.get("quick")
    lines = ["# syncroll benchmark" + (" (quick run)" if quick else ""), ""]
    if quick:
        rounds = f"{results['rounds']} round{'s' if results['rounds'] > 1 else ''}"
        lines += [f"**Quick run** (`bench/run --quick`): tiny corpora, {rounds}, short extras. "
                  "It keeps the harness working; its figures are not the performance figures.", ""]
    lines += [machine_line(results), ""]
    if results["sync"]:
        lines += sync_section(results["sync"], results["rounds"])
    for sync in results["sync"]:
        if "library" in sync:
            lines += library_section(sync["library"])
    if "catalog" in results:
        lines += catalog_section(results["catalog"])
    if results.get("failures"):
        lines += ["## Failed verification", ""] + [f"- {f}" for f in results["failures"]] + [""]
    if results.get("error"):
        lines += ["## Run stopped", "", "```", results["error"].strip(), "```", ""]
    return "\n".join(lines)


def machine_line(results):
    m = results.get("machine")
    if not m:
        return f"{results['date']}"
    return (f"{results['date']} · {m['syncroll']} (commit {m['syncroll_commit']}) · {m['rclone']} · "
            f"{m['nproc']} × {m['cpu']} · {m['ram_gib']} GiB RAM · Linux {m['kernel']}")


def sync_section(syncs, rounds):
    lines = [f"## First sync of a corpus: syncroll and `rclone copy` (median of {rounds} "
             f"round{'s' if rounds > 1 else ''})", "",
             "| corpus | server | tool | " + " | ".join(c[1] for c in SYNC_COLUMNS) + " | verified |",
             "|---|---|---|" + "--:|" * len(SYNC_COLUMNS) + "---|"]
    for sync in syncs:
        if "median" not in sync:
            continue  # stopped before its rounds were done
        corpus = f"{sync['preset']} ({sync['files']:,} files, {sync['bytes'] / 1e6:,.1f} MB)"
        for tool, name in TOOL_NAMES.items():
            figures = sync["median"][tool]
            cells = [fmt.format(figures[key]) for key, _, fmt in SYNC_COLUMNS]
            ok = all(r[tool]["verified"] for r in sync["rounds"])
            lines.append(f"| {corpus} | {sync['server']} | {name} | " + " | ".join(cells)
                         + f" | {'yes' if ok else '**NO**'} |")
            corpus = ""
    lines += ["", "## syncroll ÷ `rclone copy`, with targets", "",
              "| corpus | server | " + " | ".join(c[1] for c in RATIO_COLUMNS) + " | daemon peak RSS (worst round) |",
              "|---|---|" + "--:|" * (len(RATIO_COLUMNS) + 1)]
    for sync in syncs:
        if "median" not in sync:
            continue
        targets = {t["figure"]: t for t in sync["targets"]}
        cells = [with_target(ratio_text(sync["ratios"][key]), targets.get(key)) for key, _ in RATIO_COLUMNS]
        rss = targets["daemon_peak_rss_mib"]
        cells.append(with_target(f"{rss['value']:.1f} MiB", rss))
        lines.append(f"| {sync['preset']} | {sync['server']} | " + " | ".join(cells) + " |")
    return lines + [""]


def ratio_text(value):
    return "n/a" if value is None else f"{value:.2f}"


def with_target(text, target):
    if not target:
        return text
    return f"{text} ({target['target']}: {verdict(target)})"


def verdict(target):
    return {True: "met", False: "**missed**", None: "n/a"}[target["met"]]


def library_section(lib):
    targets = {t["figure"]: t for t in lib["targets"]}
    change, idle, status, queued = lib["change"], lib["idle"], lib["status"], lib["status_queued"]
    rows = [
        (f"a photo changed on disk → new bytes on the server (median / max of {change['changes']})",
         f"{change['median_ms']} / {change['max_ms']} ms", targets["change_to_remote_ms"]),
        (f"idle CPU over {idle['seconds']:g} s", f"{idle['cpu_percent']:.2f} % of one core",
         targets["idle_cpu_percent"]),
        status_row(status, ""),
        *restart_rows(lib["restart"], targets),
        status_row(queued, f" with {queued['queued']:,} jobs queued (sync paused)"),
    ]
    return [f"## The daemon holding the synced library ({lib['photos']:,} photos)", ""] + table(rows)


def catalog_section(cat):
    targets = {t["figure"]: t for t in cat["targets"]}
    listing = cat["photos_list"]
    rows = [
        ("index: `roots add` → every photo indexed and hashed",
         f"{cat['index_s']:.2f} s, daemon peak RSS {cat['index_peak_rss_mib']:.1f} MiB", None),
        *restart_rows(cat["restart"], targets),
        status_row(cat["status"], ""),
        (f"`syncroll --json photos` of all {listing['lines']:,} (streamed)",
         f"{listing['elapsed_s']:.2f} s, CLI peak RSS {listing['cli_peak_rss_mib']:.1f} MiB", None),
        (f"idle CPU over {cat['idle']['seconds']:g} s", f"{cat['idle']['cpu_percent']:.2f} % of one core",
         targets["idle_cpu_percent"]),
        ("daemon peak RSS since the restart (scan, status, listing)",
         f"{cat['daemon_peak_rss_after_restart_mib']:.1f} MiB", None),
    ]
    return [f"## Catalog of {cat['photos']:,} photos (no sync)", ""] + table(rows)


def restart_rows(r, targets):
    return [
        ("restart: SIGTERM → exited", f"{r['stop_s']:.2f} s", None),
        ("restart: start → `status` answers", f"{r['to_answer_s']:.3f} s", None),
        ("restart: start → start-up scan finished",
         f"{r['to_scan_finished_s']:.2f} s (the scan itself: {r['scan_ms']} ms)", None),
        ("files hashed again by the restart", f"{r['rehashed']:,}", targets["rehashed"]),
        ("jobs queued by the restart", f"{r['jobs_queued']:,}", targets["jobs_queued"]),
    ]


def status_row(status, when):
    return (f"`syncroll --json status`{when}: p50 / p99 of {status['calls']} calls (CLI process start included)",
            f"{status['p50_ms']:.1f} / {status['p99_ms']:.1f} ms", None)


def table(rows):
    lines = ["| figure | value | target |", "|---|--:|---|"]
    for figure, value, target in rows:
        lines.append(f"| {figure} | {value} | {target['target'] + ': ' + verdict(target) if target else ''} |")
    return lines + [""]
