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

// writingOffset is the byte of the lock file that records writes in
// progress: 0 none; 1 a Put is writing (from before it creates its
// temporary file until after it renamed or removed it); 2 a Put found 1
// when it took the lock, so a writer died mid-write and may have left a
// temporary file. Only the sweep at Open clears a 2. It is written without
// fsync: a hint that survives a killed process, not necessarily a power
// loss. Processes of releases that do not know it leave it alone (they
// write only the first lockSize bytes).
const writingOffset = lockSize

// Values of the write-in-progress byte.
const (
	markIdle    = 0
	markWriting = 1
	markDied    = 2
)

func readMark(f *os.File) byte {
	var b [1]byte
	if n, _ := f.ReadAt(b[:], writingOffset); n != 1 {
		return markIdle
	}
	return b[0]
}

// writeMark records m. Best effort: a failure only means a leftover may
// not be swept.
func writeMark(f *os.File, m byte) { _, _ = f.WriteAt([]byte{m}, writingOffset) }

// beginWrite records that a Put (holding the lock) starts writing, and
// returns the function to call when it has finished, successfully or not.
func beginWrite(f *os.File) (end func()) {
	switch readMark(f) {
	case markIdle:
		writeMark(f, markWriting)
		return func() { writeMark(f, markIdle) }
	case markWriting: // the last writer died mid-write
		writeMark(f, markDied)
	}
	return func() {}
}

// sweepTemp removes the temporary files left below root by a writer that
// died between creating and renaming them, and returns how many it
// removed. It takes the store's lock without waiting (if another process
// holds it, the store is in use and a later Open sweeps), and walks the
// store only if the lock file's mark is not idle: Put and
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
	if readMark(lock) == markIdle {
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
		writeMark(lock, markIdle)
	}
	return removed
}
