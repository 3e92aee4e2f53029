#!/usr/bin/env python
"""WebDataset shards: `nacti_dl.shards.write_shards` against `tar cf` over the same files, in one run (issue #22).

A download-shaped folder of --n small JPEGs (one real 64x48 JPEG made with PIL, each file made distinct by random
bytes in a COM segment, --kb KB on average; 20 class folders of sub-folders of 50 files, 200 camera locations) and its
manifest.csv (nacti_dl.state.MANIFEST_COLS). Then, --runs times, alternating: `tar cf` of the manifest's files
(`-T` a list of them, in manifest order, into one tar) and `write_shards` (default 1 GB shards, its output folder
removed before each run, so each run writes everything). Both read the files from the page cache (a first, untimed
pass of each warms it). The table gives the median run of each: wall s, files/s, MB/s of image bytes, CPU s
(tar: its process; write_shards: this process), and write_shards' speed as a share of tar cf's. The load average
(1 min) is printed before and after each run: the machine is shared, and wall times move with it.

    .venv/bin/python bench/bench_shards.py                 # 100,000 files of ~6 KB, 3 runs each: a few minutes on 2 cores
    .venv/bin/python bench/bench_shards.py --n 10000 --runs 1
"""
import argparse, csv, io, os, random, resource, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from PIL import Image
from nacti_dl.state import MANIFEST_COLS
from nacti_dl.shards import write_shards


def small_jpeg(side=64):
    "A real small JPEG (noise, so it does not compress to nothing)"
    b = io.BytesIO(); Image.effect_noise((side, side * 3 // 4), 60).convert('RGB').save(b, 'JPEG', quality=80)
    return b.getvalue()


def make_folder(dest: Path, n: int, kb: float, seed: int = 0):
    "`n` distinct small JPEGs under dest (20 class folders, 50 files per sub-folder) and their manifest.csv"
    rng, base, made = random.Random(seed), small_jpeg(), set()
    pad = max(0, int(kb * 1024) - len(base) - 4)
    with open(dest/'manifest.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f); w.writerow(MANIFEST_COLS)
        for i in range(n):
            cls = f'class{i % 20:02d}'; path = f'{cls}/{i // 1000:03d}/img{i:07d}.jpg'
            com = rng.randbytes(rng.randint(pad // 2, pad * 3 // 2) if pad else 8)[:65000]
            b = base[:2] + b'\xff\xfe' + (len(com) + 2).to_bytes(2, 'big') + com + base[2:]
            p = dest/path
            if p.parent not in made: p.parent.mkdir(parents=True, exist_ok=True); made.add(p.parent)
            p.write_bytes(b)
            row = dict(path=path, **{'class': str(i % 20)}, common_name=cls, image_id=f'img{i:07d}', location=f'loc{rng.randrange(200):03d}',
                       width=64, height=48, bytes=len(b), dataset='bench')
            w.writerow([row.get(c, '') for c in MANIFEST_COLS])


def cpu_self(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
def cpu_children(): r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime


def run_tar(dest: Path, out: Path, files: Path):
    out.unlink(missing_ok=True); c0, t0 = cpu_children(), time.perf_counter()
    subprocess.run(['tar', 'cf', str(out), '-C', str(dest), '-T', str(files)], check=True)
    return time.perf_counter() - t0, cpu_children() - c0


def run_shards(dest: Path, out: Path, shard_size: int):
    shutil.rmtree(out, ignore_errors=True); c0, t0 = cpu_self(), time.perf_counter()
    info = write_shards(dest, out, shard_size=shard_size)
    assert info['written'] and info['samples'] and not info['skipped'], info['skipped']
    return time.perf_counter() - t0, cpu_self() - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=100_000, help='files')
    ap.add_argument('--kb', type=float, default=6, help='mean file size, KB')
    ap.add_argument('--runs', type=int, default=3, help='timed runs of each tool (alternating)')
    ap.add_argument('--shard-size', type=int, default=10**9, help='write_shards --shard-size')
    ap.add_argument('--dir', default=None, help='work folder (default: a temporary folder under bench/out, removed)')
    a = ap.parse_args()
    (HERE/'out').mkdir(exist_ok=True)
    work = Path(a.dir) if a.dir else Path(tempfile.mkdtemp(prefix='bench_shards_', dir=HERE/'out'))
    try:
        dest = work/'folder'; dest.mkdir(parents=True, exist_ok=True)
        if not (dest/'manifest.csv').exists():
            t0 = time.perf_counter(); make_folder(dest, a.n, a.kb)
            print(f'made {a.n:,} files in {time.perf_counter() - t0:.0f} s', flush=True)
        with open(dest/'manifest.csv', newline='', encoding='utf-8') as f: rows = list(csv.DictReader(f))
        files, total = work/'files.txt', sum(int(r['bytes']) for r in rows)
        files.write_text(''.join(r['path'] + '\n' for r in rows))
        tar_out, shards_out = work/'all.tar', work/'shards'
        run_tar(dest, tar_out, files); run_shards(dest, shards_out, a.shard_size)   # warm the page cache, untimed
        res = {'tar cf': [], 'write_shards': []}
        for i in range(a.runs):
            for name, f in (('tar cf', lambda: run_tar(dest, tar_out, files)), ('write_shards', lambda: run_shards(dest, shards_out, a.shard_size))):
                l0 = os.getloadavg()[0]; wall, cpu = f(); l1 = os.getloadavg()[0]
                res[name].append((wall, cpu)); print(f'run {i + 1} {name:<13} {wall:6.2f} s wall {cpu:6.2f} s CPU   load {l0:.2f} -> {l1:.2f}', flush=True)
        print(f"\n{len(rows):,} files, {total / 1e6:,.0f} MB of images; tar {tar_out.stat().st_size / 1e6:,.0f} MB, "
              f"shards {sum(p.stat().st_size for p in shards_out.glob('*.tar')) / 1e6:,.0f} MB in {len(list(shards_out.glob('*.tar')))} file(s)\n")
        med = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
        print('| tool | wall s (median) | files/s | MB/s | CPU s | speed vs tar cf | runs: wall s |')
        print('|---|---:|---:|---:|---:|---:|---|')
        for k, (wall, cpu) in med.items():
            print(f"| `{k}` | {wall:.2f} | {len(rows) / wall:,.0f} | {total / 1e6 / wall:,.0f} | {cpu:.2f} | "
                  f"{med['tar cf'][0] / wall:.2f}x | {', '.join(f'{w:.2f}' for w, _ in res[k])} |")
    finally:
        if not a.dir: shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
