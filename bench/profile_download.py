#!/usr/bin/env python
"""Where `nacti_dl.download.download` spends its CPU: one in-process run under cProfile, every thread included.

Same setup as bench_download.py (its functions): a synthetic NACTI, the TLS mirror and the delay proxy in their own
processes. The download runs in this process; each thread it starts (the engine's event loop, the I/O threads) gets
its own cProfile.Profile: `threading.setprofile` installs a hook that the new thread calls on its first event, and
the hook enables that thread's profiler (which then replaces the hook). Each profiler's clock is its thread's CPU
time (`time.thread_time`), so waiting (epoll, queues, locks) costs nothing and the figures are CPU seconds. The
profiles are merged and the top functions printed by total time (own code) and by cumulative time. C code called
from Python (hashlib, ssl reads, aiohttp's C parser) shows as the calling function's builtin entry; uvloop's own C
work (its socket and TLS transport) shows as the tottime of the engine thread's `_thread_main`, which runs the
loop. A coroutine's every resumption counts as a call. cProfile slows pure-Python code several times more than C
code, so read proportions, not seconds.

    .venv-bench/bin/python bench/profile_download.py                      # 1,000 files, 32 workers
    .venv-bench/bin/python bench/profile_download.py --n 200 --top 15 --save bench/out/download.prof
    .venv-bench/bin/python -m pstats bench/out/download.prof              # browse a saved profile

A sampling view without cProfile's distortion, if py-spy installs (`.venv-bench/bin/pip install py-spy`):

    .venv-bench/bin/py-spy record --threads --native -o bench/out/download.svg -- \\
        .venv-bench/bin/python bench/profile_download.py --no-profile
"""
import argparse, cProfile, pstats, shutil, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_download as bd

class ThreadProfiles:
    "A cProfile.Profile in this thread and in every thread started while active; `stats()` merges them"
    def __init__(self): self.profs, self.lock = [], threading.Lock()

    def _start(self, *_):   # first profile event in a new thread: its own profiler takes over from this hook
        prof = cProfile.Profile(time.thread_time)   # this thread's CPU time: waits cost nothing
        with self.lock: self.profs.append(prof)
        prof.enable()

    def __enter__(self): threading.setprofile(self._start); self._start(); return self
    def __exit__(self, *_): threading.setprofile(None); self.profs[0].disable()

    def stats(self)->pstats.Stats:
        st = pstats.Stats(self.profs[0])
        for p in self.profs[1:]: st.add(p)   # a thread still running keeps counting into its own: a snapshot
        return st

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog='\n'.join(__doc__.splitlines()[1:]))
    p.add_argument('--n', type=int, default=1000, help='number of images')
    p.add_argument('--workers', type=int, default=32)
    p.add_argument('--latency-ms', type=float, default=30)
    p.add_argument('--rtt-ms', type=float, default=40)
    p.add_argument('--image-kb', type=int, default=300)
    p.add_argument('--top', type=int, default=25, help='rows in each listing')
    p.add_argument('--save', help='write the merged profile here (for pstats, snakeviz ...)')
    p.add_argument('--no-profile', action='store_true', help='just the download (to run under py-spy)')
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix='nacti-profile-'))
    mirror = proxy = None
    try:
        items = bd.make_plan_items(work / 'mirror', a.n, 0)
        mirror, mirror_url, ca = bd.start_mirror(work / 'mirror', a.latency_ms, a.image_kb, None)
        proxy, proxy_addr = bd.start_proxy(mirror_url.split('//', 1)[1], a.rtt_ms / 2, a.rtt_ms, None)
        from nacti_dl.download import download
        run = lambda: download(items, work / 'dest', f'https://{proxy_addr}', workers=a.workers, ca_bundle=ca, progress=False)
        t0 = time.perf_counter()
        if a.no_profile: rep = run()
        else:
            with ThreadProfiles() as tp: rep = run()
        print(f"{' '.join(str(rep).split())}\n{time.perf_counter() - t0:.1f} s wall, {a.workers} workers")
        if a.no_profile: return
        st = tp.stats()
        if a.save: st.dump_stats(a.save)
        st.strip_dirs()
        for key in ('tottime', 'cumulative'):
            print(f"\n### top {a.top} by {key}, CPU seconds ({len(tp.profs)} threads merged)")
            st.sort_stats(key).print_stats(a.top)
    finally:
        bd._stop(proxy); bd._stop(mirror)
        shutil.rmtree(work, ignore_errors=True)

if __name__ == '__main__': main()
