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

// sweepTemp removes the temporary files that writers killed between
// creating and renaming them left below root, and returns how many it
// removed. Put and Delete hold the store's lock from before they create a
// temporary file until after they rename or remove it, so while sweepTemp
// holds the lock every temporary file belongs to a writer that died. It
// does not wait for the lock: when another process holds it, the store is
// in use and a later Open sweeps. Best effort: a leftover file only takes
// space (Get and List ignore it), so errors stop the sweep silently.
func sweepTemp(root string, lockFD int) int {
	if err := unix.Flock(lockFD, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return 0
	}
	defer funlock(lockFD)
	removed := 0
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
	return removed
}
