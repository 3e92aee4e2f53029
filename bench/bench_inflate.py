#!/usr/bin/env python
"""Benchmark: inflating the full-scale metadata zip member, ISA-L (python-isal, what `nacti_dl.metadata` uses when
it is installed) against zlib, both through `nacti_dl.metadata._Inflate` (CRC and length checked), reads of 16 MB.

    python bench/bench_inflate.py [--root DIR] [--repeat R]     (the zip that bench_metadata.py makes)
"""
import argparse, os, time, zlib, zipfile
from pathlib import Path
import nacti_dl.metadata as M
from nacti_dl.lila import NACTI

def inflate(src:Path, lib)->tuple:
    "(seconds, bytes) to inflate the member of `src` with `lib`"
    M._inflater = lib
    with zipfile.ZipFile(src) as z: info = max(z.infolist(), key=lambda i: i.file_size)
    f,n,t = M._Inflate(src, info),0,time.perf_counter()
    try:
        while (out := f.read(M._CHUNK)): n += len(out)
    finally: f.close()
    return time.perf_counter() - t,n

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')))
    p.add_argument('--repeat', type=int, default=3)
    a = p.parse_args()
    src = a.root/NACTI.metadata
    if not src.exists(): raise SystemExit(f"{src} is missing: run bench/bench_metadata.py first")
    from isal import isal_zlib
    libs,kept = dict(zlib=zlib, isal=isal_zlib),M._inflater
    try: best = {k: min(inflate(src, lib) for _ in range(a.repeat)) for k,lib in libs.items()}
    finally: M._inflater = kept
    print(f"{src} ({src.stat().st_size/1e6:.0f} MB zip, {best['zlib'][1]/1e9:.2f} GB out); best of {a.repeat}\n")
    print('| inflater | seconds | GB/s |\n|---|---:|---:|')
    for k,(s,n) in best.items(): print(f"| {k} | {s:.2f} | {n/s/1e9:.2f} |")

if __name__ == '__main__': main()
