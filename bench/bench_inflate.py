#!/usr/bin/env python
"""Benchmark: inflating the full-scale metadata zip member, ISA-L (python-isal, what `nacti_dl.metafile` uses when it is
installed) against zlib, both streamed through `nacti_dl.metafile._Inflate` (CRC and length checked) as `read_coco`
does, and ISA-L in one call (the whole member at once: what streaming costs, for the bound it gives).

    python bench/bench_inflate.py [--root DIR] [--repeat R]     (the zip that bench_metadata.py makes)
"""
import argparse, os, time, zlib, zipfile
from pathlib import Path
import nacti_dl.metafile as C
from nacti_dl.lila import NACTI

def member(src:Path)->zipfile.ZipInfo:
    with zipfile.ZipFile(src) as z: return max(z.infolist(), key=lambda i: i.file_size)

def streamed(src:Path, lib)->tuple:
    "(seconds, bytes) to inflate the member of `src` with `lib`, a piece at a time"
    C._inflater = lib
    f,n,t = C._Inflate(src, member(src)),0,time.perf_counter()
    try:
        while (out := f.read(C._STEP)): n += len(out)
    finally: f.close()
    return time.perf_counter() - t,n

def one_call(src:Path, lib)->tuple:
    "(seconds, bytes) to inflate the member of `src` with `lib` in one call (no bound but the declared size)"
    info,t = member(src),time.perf_counter()
    f = C._Inflate(src, info) # for its checked seek to the data
    try: data = f.f.read(info.compress_size)
    finally: f.close()
    out = lib.decompressobj(-15).decompress(data, info.file_size + 1)
    assert len(out) == info.file_size and lib.crc32(out) == info.CRC
    return time.perf_counter() - t,len(out)

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--root', type=Path, default=Path(os.environ.get('NACTI_DL_BENCH_DIR', '/tmp/nacti_dl_bench')))
    p.add_argument('--repeat', type=int, default=3)
    a = p.parse_args()
    src = a.root/NACTI.metadata
    if not src.exists(): raise SystemExit(f"{src} is missing: run bench/bench_metadata.py first")
    from isal import isal_zlib
    cases,kept = {'zlib, streamed': (streamed, zlib), 'isal, streamed': (streamed, isal_zlib), 'isal, one call': (one_call, isal_zlib)},C._inflater
    try: best = {k: min(f(src, lib) for _ in range(a.repeat)) for k,(f,lib) in cases.items()}
    finally: C._inflater = kept
    print(f"{src} ({src.stat().st_size/1e6:.0f} MB zip, {best['zlib, streamed'][1]/1e9:.2f} GB out); best of {a.repeat}\n")
    print('| inflater | seconds | GB/s |\n|---|---:|---:|')
    for k,(s,n) in best.items(): print(f"| {k} | {s:.2f} | {n/s/1e9:.2f} |")

if __name__ == '__main__': main()
