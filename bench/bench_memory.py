#!/usr/bin/env python
"""Memory of a long download: the engine's RSS while it works through a full-scale plan (issue 3: "memory stays flat
however long the plan is").

Loads the full-scale NACTI-shaped metadata that `bench_metadata.py` makes (3.38 M images; made here if missing),
plans `--classes all --cap 55000` (the user's job, about a million files), starts `nacti_dl.download.Downloader` on it
against a local mirror in its own process (synthesized ~20 KB JPEGs, so the run moves many files quickly), and
samples this process's RSS every `--every` seconds for `--seconds`, then stops the run. Printed: RSS after the
metadata load, after the plan, after the plan went into the SQLite state, and during the run against files done.
Flat means the RSS does not grow with the number of files done.

    python bench/bench_memory.py [--root /tmp/nacti_dl_bench] [--seconds 180] [--workers 64]
"""
import argparse, os, sys, tempfile, time
from pathlib import Path

def rss_mb()->float:
    "This process's resident set size, MB (from /proc)"
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024
    return float('nan')

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')))
    p.add_argument('--cap', type=int, default=55000)
    p.add_argument('--seconds', type=float, default=180)
    p.add_argument('--every', type=float, default=15)
    p.add_argument('--workers', type=int, default=64)
    a = p.parse_args()
    from nacti_dl.mirror import make_nacti, MirrorServer
    from nacti_dl.metadata import load_metadata
    from nacti_dl.plan import make_plan
    from nacti_dl.download import Downloader
    from nacti_dl.lila import NACTI
    src = a.root/NACTI.metadata
    if not src.exists(): make_nacti(a.root, 3_380_000, jpegs=False, progress=True)
    rows = [('start (imports)', 0, rss_mb())]
    meta = load_metadata(src); rows.append(('metadata loaded', 0, rss_mb()))
    plan = make_plan(meta, 'all', cap=a.cap, seed=0); rows.append(('plan made', 0, rss_mb()))
    print(f"{meta.n_images:,} images; plan: {len(plan):,} files (cap {a.cap:,}, all classes)", flush=True)
    dest = Path(tempfile.mkdtemp(prefix='nacti_mem_'))
    with MirrorServer(a.root, image_kb=20, process=True) as srv:
        dl = Downloader(dest, srv.base_url, workers=a.workers, progress=False)
        t0 = time.time(); dl.start(plan)
        while dl.total == 0 and time.time() - t0 < 600: time.sleep(0.5)  # the plan is being written to SQLite
        rows.append((f'plan in state ({time.time() - t0:.0f} s)', 0, rss_mb()))
        end = time.time() + a.seconds
        while time.time() < end:
            time.sleep(a.every)
            s = dl.status
            rows.append((f'running, {time.time() - t0:.0f} s', s['done'], rss_mb()))
        dl.stop(); report = dl.wait()
    rows.append(('stopped', report.fetched + report.already, rss_mb()))
    print(f"\n{len(plan):,} planned files, {a.workers} workers, local mirror (~20 KB files), 2 cores\n")
    print('| moment | files done | RSS (MB) |\n|---|---:|---:|')
    for what, n, mb in rows: print(f'| {what} | {n:,} | {mb:,.0f} |')
    run = [mb for what, n, mb in rows if what.startswith('running')]
    if len(run) > 1: print(f"\nduring the run: RSS {min(run):,.0f}-{max(run):,.0f} MB while files done went "
                           f"from {min(n for w, n, _ in rows if w.startswith('running')):,} to {max(n for w, n, _ in rows if w.startswith('running')):,}")

if __name__ == '__main__': main()
