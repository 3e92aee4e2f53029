#!/usr/bin/env python
"""Where a first load of the metadata spends its time: `read_coco`'s phases, then the table and its cache, each with
its wall time, kernel time and page faults (one process, one run; the zip that bench_metadata.py makes).

    python bench/profile_metadata.py [--root DIR]
"""
import argparse, os, resource, tempfile, time
from pathlib import Path
from nacti_dl import coco
from nacti_dl.metafile import read_json_bytes
from nacti_dl.lila import NACTI
from nacti_dl.metadata import from_coco, _write_cache, _source_key

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')))
    src = p.parse_args().root/NACTI.metadata
    if not src.exists(): raise SystemExit(f"{src} is missing: run bench/bench_metadata.py first")
    last = [time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)]
    print('| phase | seconds | of which system | page faults |\n|---|---:|---:|---:|')
    def mark(what):
        t,ru = time.perf_counter(),resource.getrusage(resource.RUSAGE_SELF)
        print(f"| {what} | {t-last[0]:.2f} | {ru.ru_stime-last[1].ru_stime:.2f} | {ru.ru_minflt-last[1].ru_minflt:,} |")
        last[:] = [t, ru]
    buf = read_json_bytes(src); mark('inflate into one buffer')
    doc = coco._decode_doc(buf, str(src)); mark('top-level decode into raw records')
    b = coco._Builder(buf, len(doc.images), len(doc.annotations))
    b.images(doc.images, str(src)); doc.images = None; mark('images: typed batches to columns')
    b.annotations(doc.annotations, str(src)); doc.annotations = None; mark('annotations: typed batches to columns')
    cols = b.finish(doc.categories, str(src)); mark('finish: duplicates, join')
    meta = from_coco(cols); mark('the table')
    with tempfile.TemporaryDirectory(dir=src.parent) as d: _write_cache(meta, Path(d)/'x.cache', _source_key(src), src); mark('write the cache')
    print(f"\npeak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024:,.0f} MB; {meta}")

if __name__ == '__main__': main()
