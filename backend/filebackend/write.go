package filebackend

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const (
	dirMode  = 0o700
	fileMode = 0o600
	// tmpPattern names temporary files; encoded names never start with '.'.
	tmpPattern = ".tmp-*"
)

// writeAtomic durably replaces the file at path (below root) with header
// followed by value: it writes a temporary file in the same directory,
// syncs and closes it, renames it over path and syncs the directory, and
// the parents of any directory it had to create. On failure before the
// rename it removes the temporary file; the old file, if any, is untouched.
func writeAtomic(root, path string, header, value []byte) error {
	dir := filepath.Dir(path)
	f, err := sys.createTemp(dir, tmpPattern)
	var created []string
	if errors.Is(err, fs.ErrNotExist) {
		if created, err = mkdirs(root, dir); err != nil {
			return err
		}
		f, err = sys.createTemp(dir, tmpPattern)
	}
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := writeSyncClose(f, header, value); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := sys.rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	// Each directory created is an entry in its parent; the deepest one
	// (dir) was synced above, and every other one is the parent of the next.
	for i := len(created) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}

// writeSyncClose sets f's mode, writes header and value, syncs and closes
// f. It closes f on every path.
func writeSyncClose(f *os.File, header, value []byte) error {
	err := f.Chmod(fileMode)
	if err == nil {
		_, err = sys.write(f, header)
	}
	if err == nil {
		_, err = sys.write(f, value)
	}
	if err == nil {
		// Never retried: after a failed fsync the kernel may have dropped
		// the dirty pages and a second fsync would report success for
		// data that is not on disk. The Put fails; the next one writes a
		// new temporary file from the start.
		err = sys.sync(f)
	}
	if cerr := sys.close(f); err == nil {
		err = cerr
	}
	return err
}

// mkdirs creates dir and its missing parents below root, each with mode
// 0700 whatever the umask, and returns the directories it created,
// outermost first. Their entries are not synced yet.
func mkdirs(root, dir string) ([]string, error) {
	var missing []string
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		missing = append(missing, d)
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		d := missing[i]
		if err := os.Mkdir(d, dirMode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return created, err
		}
		created = append(created, d)
		if err := os.Chmod(d, dirMode); err != nil {
			return created, err
		}
	}
	return created, nil
}

// syncDir flushes the directory entries of dir to disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = sys.sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeEmptyDirs removes dir and its parents below root for as long as
// they are empty, and syncs the parent of the last one removed. It is best
// effort: a directory still in use stays.
func removeEmptyDirs(root, dir string) {
	removed := ""
	for d := dir; d != root && len(d) > len(root); d = filepath.Dir(d) {
		if unix.Rmdir(d) != nil {
			break
		}
		removed = d
	}
	if removed != "" {
		_ = syncDir(filepath.Dir(removed))
	}
}
