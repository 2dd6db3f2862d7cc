package filebackend

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// ErrInsecure is returned (wrapped) by Open when the store directory, or
// its lock file, could be changed by someone other than the current user:
// the directory is not owned by the current user or is writable by group
// or others, or the lock file is a symbolic link, not a regular file, not
// owned by the current user or has other hard links. Anyone who can write
// there can replace records (rolling secrets back) or, through a planted
// symbolic link, make the store overwrite another file. The message says
// how to fix it.
var ErrInsecure = errors.New("filebackend: insecure store")

// checkRoot requires the store directory root (whose Stat is fi) to be
// owned by the current user and not writable by group or others.
func checkRoot(root string, fi os.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid := os.Geteuid()
	if int(st.Uid) != uid {
		return fmt.Errorf("store directory %s is owned by uid %d, not by the current user (uid %d): use a directory you own, or fix it with: chown %d %s: %w",
			root, st.Uid, uid, uid, shellQuote(root), ErrInsecure)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("store directory %s has mode %04o: group and others must not be able to write to it; fix it with: chmod 700 %s: %w",
			root, perm, shellQuote(root), ErrInsecure)
	}
	return nil
}

// openLockFile opens (creating if needed, mode 0600) the store's lock file
// at path, never through a symbolic link, and checks that it is a regular
// file owned by the current user with no other names: it is written to and
// chmod-ed, so it must not be another file in disguise.
func openLockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, fileMode)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link; remove it (it is recreated): %w", path, ErrInsecure)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwnFile(path, fi)
	}
	if err == nil {
		err = f.Chmod(fileMode)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkOwnFile requires the file at path (whose Fstat is fi) to be a
// regular file owned by the current user, with one link.
func checkOwnFile(path string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%v); remove it (it is recreated): %w", path, fi.Mode().Type(), ErrInsecure)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("%s is owned by uid %d, not by the current user (uid %d); fix it with: chown %d %s: %w",
			path, st.Uid, uid, uid, shellQuote(path), ErrInsecure)
	}
	if st.Nlink > 1 {
		return fmt.Errorf("%s has %d hard links, so it may be another file; remove it (it is recreated): %w", path, st.Nlink, ErrInsecure)
	}
	return nil
}

// openRecord opens the record file at path for reading, never through a
// symbolic link, and returns it with its size. A path that is a symbolic
// link or not a regular file is reported as ErrCorrupt: Put never
// overwrites it, and Delete with expectedRev 0 removes it.
func openRecord(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, 0, fmt.Errorf("%w: a symbolic link, not a record file", ErrCorrupt)
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%w: not a regular file (%v)", ErrCorrupt, fi.Mode().Type())
	}
	return f, fi.Size(), nil
}

// readRecordFile returns the contents of the record file at path (see
// openRecord).
func readRecordFile(path string) ([]byte, error) {
	f, size, err := openRecord(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, size+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// shellQuote quotes path for a POSIX shell if it needs quoting.
func shellQuote(path string) string {
	if path != "" && strings.Trim(path, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@%,") == "" {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}
