package filebackend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// tmpPrefix starts every temporary file's name (see tmpPattern).
const tmpPrefix = ".tmp-"

// writingOffset is the byte of the lock file that Put sets to 1 while it
// writes (from before it creates its temporary file until after it renamed
// or removed it) and back to 0 after. Found set when nobody holds the
// lock, it means a writer died mid-write and may have left a temporary
// file. It is written without fsync: a hint for the sweep that survives a
// killed process, not necessarily a power loss. Processes of releases that
// do not know it leave it alone (they write only the first lockSize bytes).
const writingOffset = lockSize

// markWriting records, in the lock file, whether a write is in progress.
// Best effort: a failure only means a leftover may not be swept.
func markWriting(f *os.File, on bool) {
	b := []byte{0}
	if on {
		b[0] = 1
	}
	_, _ = f.WriteAt(b, writingOffset)
}

// sweepTemp removes the temporary files left below root by a writer that
// died between creating and renaming them, and returns how many it
// removed. It takes the store's lock without waiting (if another process
// holds it, the store is in use and a later Open sweeps), and walks the
// store only if the lock file says a write was in progress: Put and
// Delete hold the lock from before they create a temporary file until
// after they rename or remove it, so under the lock every temporary file
// belongs to a writer that died. Best effort: a leftover file only takes
// space (Get and List ignore it), so errors end the sweep silently.
func sweepTemp(root string, lock *os.File) int {
	fd := int(lock.Fd())
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0
	}
	defer funlock(fd)
	var b [1]byte
	if n, _ := lock.ReadAt(b[:], writingOffset); n != 1 || b[0] != 1 {
		return 0
	}
	removed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() && strings.HasPrefix(d.Name(), tmpPrefix) {
			if os.Remove(path) == nil {
				removed++
			}
		}
		return nil
	})
	if err == nil {
		markWriting(lock, false)
	}
	return removed
}
