// Package filebackend is agentvault's embedded default backend.Backend: a
// directory on a local file system, one file per key.
//
// Open the directory, and close the Backend when done:
//
//	b, err := filebackend.Open("/var/lib/myapp/vault")
//	if err != nil {
//		return err
//	}
//	defer b.Close()
//
// # Durability
//
// A Put that returns nil has reached the disk: the value is written to a
// temporary file in the target's directory, which is synced, closed and
// renamed over the target; then the directory is synced, and so are the
// parents of any directory the Put created. A crash leaves either the old
// or the new value, never a mix, plus possibly a temporary file (".tmp-…"),
// which Get and List ignore and the next Open removes (when no other
// process is writing to the store). Directories are created with mode 0700 and
// files with mode 0600, whatever the umask.
//
// # Ownership and symbolic links
//
// Open refuses (ErrInsecure, with the chmod or chown that fixes it) a store
// directory that is not owned by the current user or is writable by group
// or others, and a lock file that is a symbolic link, not a regular file,
// owned by someone else or hard-linked elsewhere: whoever can write there
// could replace records, or make the store write through a planted link.
// Record files are opened with O_NOFOLLOW: a symbolic link or other
// non-regular file in a key's place is reported as ErrCorrupt, never read
// or written through (Delete with expectedRev 0 removes the link itself).
// Subdirectories are created by the store with mode 0700.
//
// # Concurrency
//
// Any number of goroutines and processes may use one directory at once.
// Put and Delete take an in-process semaphore and an exclusive flock(2) on
// <dir>/.lock, then compare the key's revision and write, so conditional
// writes from different processes never lose an update. Get and List take
// no lock: a file is only ever replaced by rename, which readers see
// atomically. Waiting for the lock respects the context's deadline and
// cancellation. flock is advisory and may not work across machines on
// network file systems: use a local file system.
//
// # Layout
//
// A key is split on '/' into segments, and each segment becomes one path
// component (a directory, or the key's file for the last segment). Within a
// segment, the bytes a-z, 0-9 and '-' stand for themselves, and every other
// byte, uppercase letters included, is written '%' and two lowercase hex
// digits; an empty segment is written "%". The key's file name ends in
// ",v". An escaped segment longer than 200 bytes is cut into several
// components, each but the last ending in '~'. So "s/prod/API_KEY" is stored
// in "s/prod/%41%50%49%5f%4b%45%59,v". This mapping
//
//   - is reversible, so List decodes names without opening files;
//   - never gives two keys names that differ only in case, nor names that
//     Unicode normalization could change, so it is safe on case-insensitive
//     and normalizing file systems (macOS, Windows shares);
//   - keeps every name within 202 bytes (NAME_MAX is 255) and every path
//     within 3.2 KiB for keys up to backend.MaxKeyLen bytes, which is why
//     Open refuses a directory whose own path is longer than 988 bytes;
//   - never yields ".", ".." or a name starting with '.', so the lock file
//     and temporary files cannot collide with keys, and never lets a key's
//     file ("a,v") collide with a longer key's directory ("a/").
//
// Each file holds a 28-byte header (magic, revision, value length, CRC-32C)
// and then the value; a file that fails these checks is reported with
// ErrCorrupt. A new revision is the largest of the key's revision plus one,
// the highest revision the store has recorded (in the lock file) plus one,
// and the clock in Unix nanoseconds, so revisions increase and are never
// handed out twice, even across Delete and re-create.
//
// # Compatibility
//
// The layout and the file format are frozen; the record's magic carries a
// version byte for any future change. The package builds on Unix systems
// only.
package filebackend
