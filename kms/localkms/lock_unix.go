//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package localkms

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock) on the file at path,
// creating it with mode 0600 if needed, and returns the function that
// releases it. The lock is released by the kernel if the process dies. The
// lock file is left in place: removing it would let two processes lock
// different files of the same name.
func lockFile(path string) (unlock func(), err error) {
	// Never through a symbolic link: it would create or lock another file.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
