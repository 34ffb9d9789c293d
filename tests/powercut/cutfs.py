#!/usr/bin/python3
"""cutfs: a filesystem that loses power on command (tests/powercut, docs/reliability.md).

    cutfs.py BACKING MOUNT --plan FILE [--report FILE] [--stall FILE]

Mounts BACKING at MOUNT (FUSE, through fusepy; foreground, one thread). A write is kept
in this process's memory, page by page (4 KiB), and reaches BACKING only when it is
synced: fsync(2)/fdatasync(2) on the file (the kernel sends FUSE_FSYNC for both, and for
a write through a descriptor opened with O_SYNC/O_DSYNC), or the write itself came
through such a descriptor. Reads see the unsynced pages, so a program on MOUNT sees the
file as a page cache would show it. This is the disk a power cut leaves behind: BACKING.

LMDB's calls, read in mdb.c: pages are written with pwrite/pwritev on the data file,
then fdatasync(2) on it (unless MDB_NOSYNC), then the meta page through a second
descriptor opened with O_DSYNC (unless MDB_NOSYNC or MDB_NOMETASYNC). Reads go through a
read-only mmap: FUSE without direct_io, so the kernel's page cache serves them and this
process answers its misses. The lock file is a shared writable mmap (its pages come here
as writes from the kernel's writeback) and is never synced: after a cut LMDB
re-initialises it. fcntl locks are left to the kernel (no `lock` operation here).

The cut happens when the filesystem is unmounted (`fusermount -u MOUNT` after the
programs on it are dead; unmounting also drops the kernel's cached pages). Then the plan
FILE (JSON), written by the test before it unmounts, says what the power cut does with
the pages still unsynced:

    {"mode": "drop"}                                    lose them all (the default)
    {"mode": "partial", "seed": S, "fraction": F}       a random subset (each page with
                                                        probability F; F absent: random)
                                                        reaches the disk first, in random
                                                        order, as a kernel's writeback
                                                        might have sent them
    {"mode": "pages", "file": NAME, "pages": [0, 1]}    only these pages of NAME reach it
    {"mode": "flush"}                                   all of them (no power cut)

and --report FILE gets what happened: {"unsynced_pages", "written_back", "syncs"}.

Simplifications, on purpose: creating, renaming, removing files and truncation reach
BACKING at once (a journalling filesystem's metadata); a page reaches the disk whole or
not at all (no torn pages; LMDB assumes a sector is written atomically); BACKING itself
is never fsync'ed (it is the disk, not a cache).
"""

import argparse
import errno
import json
import os
import random
import stat
import sys
import time

import fusepy

PAGE = 4096
SYNC_FLAGS = os.O_SYNC | os.O_DSYNC


class File:
    """A regular file: its backing descriptor and its unsynced pages (full page images)."""

    def __init__(self, fd):
        self.fd = fd
        self.pages = {}         # page index -> bytearray(PAGE): the file's current content
        self.size = os.fstat(fd).st_size    # size as programs see it

    def page(self, index):
        page = self.pages.get(index)
        if page is None:
            page = bytearray(os.pread(self.fd, PAGE, index * PAGE).ljust(PAGE, b"\0"))
            self.pages[index] = page
        return page

    def write_back(self, index):
        """Writes one unsynced page to the backing file (its part below the file's size)."""
        page = self.pages.pop(index)
        length = min(PAGE, self.size - index * PAGE)
        if length > 0:
            os.pwrite(self.fd, bytes(page[:length]), index * PAGE)

    def sync(self):
        for index in sorted(self.pages):
            self.write_back(index)
        if os.fstat(self.fd).st_size < self.size:
            os.ftruncate(self.fd, self.size)


class CutFS(fusepy.Operations):
    def __init__(self, backing, stall=None):
        self.root = os.path.realpath(backing)
        self.stall = stall      # a file whose presence makes the next sync slow (--stall)
        self.files = {}         # path -> File, for every regular file opened so far
        self.handles = {}       # fh -> (path, open flags)
        self.next_fh = 1
        self.syncs = 0

    # ------------------------------------------------------------ helpers

    def _real(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _file(self, path):
        f = self.files.get(path)
        if f is None:
            f = File(os.open(self._real(path), os.O_RDWR))
            self.files[path] = f
        return f

    def _handle(self, path, flags):
        self._file(path)
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = (path, flags)
        return fh

    # ------------------------------------------------------------ metadata

    def getattr(self, path, fh=None):
        try:
            st = os.lstat(self._real(path))
        except OSError as e:
            raise fusepy.FuseOSError(e.errno)
        attrs = {key: getattr(st, key) for key in ("st_mode", "st_nlink", "st_uid", "st_gid",
                                                   "st_size", "st_atime", "st_mtime",
                                                   "st_ctime")}
        f = self.files.get(path)
        if f is not None and stat.S_ISREG(st.st_mode):
            attrs["st_size"] = f.size
        return attrs

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._real(path))

    def access(self, path, mode):
        if not os.access(self._real(path), mode):
            raise fusepy.FuseOSError(errno.EACCES)

    def statfs(self, path):
        st = os.statvfs(self._real(path))
        return {key: getattr(st, key) for key in ("f_bavail", "f_bfree", "f_blocks", "f_bsize",
                                                  "f_favail", "f_ffree", "f_files", "f_flag",
                                                  "f_frsize", "f_namemax")}

    def chmod(self, path, mode):
        os.chmod(self._real(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._real(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._real(path), times)

    def mkdir(self, path, mode):
        os.mkdir(self._real(path), mode)

    def rmdir(self, path):
        os.rmdir(self._real(path))

    def unlink(self, path):
        os.unlink(self._real(path))
        f = self.files.pop(path, None)
        if f is not None:
            os.close(f.fd)

    def rename(self, old, new):
        os.rename(self._real(old), self._real(new))
        replaced = self.files.pop(new, None)
        if replaced is not None:
            os.close(replaced.fd)
        if old in self.files:
            self.files[new] = self.files.pop(old)
        self.handles = {fh: (new if p == old else p, fl) for fh, (p, fl) in self.handles.items()}

    # ------------------------------------------------------------ files

    def create(self, path, mode, fi=None):
        os.close(os.open(self._real(path), os.O_CREAT | os.O_WRONLY, mode))
        return self._handle(path, os.O_RDWR)

    def open(self, path, flags):
        if flags & os.O_TRUNC:
            self.truncate(path, 0)
        return self._handle(path, flags)

    def release(self, path, fh):
        self.handles.pop(fh, None)

    def flush(self, path, fh):
        pass

    def read(self, path, size, offset, fh):
        f = self._file(path)
        end = min(offset + size, f.size)
        if end <= offset:
            return b""
        data = bytearray(os.pread(f.fd, end - offset, offset).ljust(end - offset, b"\0"))
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            page = f.pages.get(index)
            if page is None:
                continue
            lo = max(offset, index * PAGE)
            hi = min(end, (index + 1) * PAGE)
            data[lo - offset:hi - offset] = page[lo - index * PAGE:hi - index * PAGE]
        return bytes(data)

    def write(self, path, data, offset, fh):
        f = self._file(path)
        end = offset + len(data)
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            lo = max(offset, index * PAGE)
            hi = min(end, (index + 1) * PAGE)
            f.page(index)[lo - index * PAGE:hi - index * PAGE] = data[lo - offset:hi - offset]
        f.size = max(f.size, end)
        flags = self.handles.get(fh, (None, 0))[1]
        if flags & SYNC_FLAGS:
            # A synchronous descriptor: this write is on the disk when it returns (the
            # range only, as O_DSYNC promises; other unsynced pages stay unsynced).
            os.pwrite(f.fd, data, offset)
            self.syncs += 1
        return len(data)

    def truncate(self, path, length, fh=None):
        f = self._file(path)
        os.ftruncate(f.fd, length)
        for index in [i for i in f.pages if i * PAGE >= length]:
            del f.pages[index]
        if length % PAGE and length // PAGE in f.pages:
            f.pages[length // PAGE][length % PAGE:] = bytes(PAGE - length % PAGE)
        f.size = length

    def fsync(self, path, datasync, fh):
        if self.stall and os.path.exists(self.stall):
            # A slow disk: this one sync takes as long as the file says (then it is gone).
            with open(self.stall) as f:
                seconds = float(f.read() or 0)
            os.unlink(self.stall)
            print(f"cutfs: stalling a sync of {os.path.basename(path)} for {seconds} s",
                  file=sys.stderr, flush=True)
            time.sleep(seconds)
        self._file(path).sync()
        self.syncs += 1

    def fsyncdir(self, path, datasync, fh):
        pass

    # ------------------------------------------------------------ the cut

    def power_cut(self, plan):
        """Applies plan to the unsynced pages; returns the report."""
        pending = [(path, index) for path, f in self.files.items() for index in f.pages]
        mode = plan.get("mode", "drop")
        if mode == "flush":
            chosen = pending
        elif mode == "partial":
            rng = random.Random(plan.get("seed", 0))
            fraction = plan.get("fraction")
            if fraction is None:
                fraction = rng.random()
            chosen = [p for p in pending if rng.random() < fraction]
            rng.shuffle(chosen)
        elif mode == "pages":
            wanted = set(plan.get("pages", ()))
            chosen = [(p, i) for p, i in pending
                      if os.path.basename(p) == plan["file"] and i in wanted]
        elif mode == "drop":
            chosen = []
        else:
            raise ValueError(f"unknown plan mode {mode!r}")
        for path, index in chosen:
            self.files[path].write_back(index)
        for f in self.files.values():
            os.close(f.fd)
        self.files.clear()
        return {"mode": mode, "unsynced_pages": len(pending), "written_back": len(chosen),
                "syncs": self.syncs}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("backing")
    parser.add_argument("mount")
    parser.add_argument("--plan", required=True, help="JSON file read at unmount")
    parser.add_argument("--report", help="JSON file written after the cut")
    parser.add_argument("--stall", help="when this file exists, the next sync first sleeps the "
                        "seconds it holds, and the file is removed (a slow disk)")
    args = parser.parse_args()
    fs = CutFS(args.backing, args.stall)
    # No direct_io: the kernel's page cache serves LMDB's mmap. One thread: no locking here.
    fusepy.FUSE(fs, args.mount, foreground=True, nothreads=True, big_writes=True)
    try:
        with open(args.plan) as f:
            plan = json.load(f)
    except FileNotFoundError:
        plan = {"mode": "drop"}
    report = fs.power_cut(plan)
    print(f"cutfs: {json.dumps(report)}", file=sys.stderr)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f)


if __name__ == "__main__":
    main()
