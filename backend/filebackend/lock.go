package filebackend

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The lock file <dir>/.lock serializes writers across processes: Put and
// Delete hold an exclusive flock on it while they compare and write. It also
// records the highest revision handed out or deleted in the store, so that
// a revision is never reused even if the clock goes back:
//
//	offset  size  field
//	0       8     magic "AVLOCK\x00\x01"
//	8       8     highest revision, big-endian int64
//	16      1     writes in progress, or left unfinished (see writingOffset)
//
// A lock file that is empty or unreadable counts as highest revision 0; it
// is rewritten by the next Put or Delete. The file must never be deleted
// while a process has the store open: processes holding the old file and
// processes creating a new one would no longer exclude each other.
const (
	lockName  = ".lock"
	lockMagic = "AVLOCK\x00\x01"
	lockSize  = 16
)

// flock takes an exclusive lock on fd, waiting until it is free or ctx is
// done. Without a ctx deadline or cancellation it blocks in the kernel;
// otherwise it polls, backing off up to two milliseconds between attempts.
func flock(ctx context.Context, fd int) error {
	if ctx.Done() == nil {
		for {
			err := unix.Flock(fd, unix.LOCK_EX)
			if err != unix.EINTR {
				return err
			}
		}
	}
	delay := 20 * time.Microsecond
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && err != unix.EINTR {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(delay)
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, 2*time.Millisecond)
	}
}

// funlock releases the lock flock took.
func funlock(fd int) error {
	for {
		err := unix.Flock(fd, unix.LOCK_UN)
		if err != unix.EINTR {
			return err
		}
	}
}

// readHighRev returns the highest revision recorded in the lock file, or 0
// if it records none.
func readHighRev(f *os.File) int64 {
	var b [lockSize]byte
	if n, _ := f.ReadAt(b[:], 0); n < lockSize || string(b[:8]) != lockMagic {
		return 0
	}
	return max(int64(binary.BigEndian.Uint64(b[8:])), 0)
}

// writeHighRev records rev as the highest revision, syncing the lock file
// to disk if sync is set.
func writeHighRev(f *os.File, rev int64, sync bool) error {
	var b [lockSize]byte
	copy(b[:], lockMagic)
	binary.BigEndian.PutUint64(b[8:], uint64(rev))
	if _, err := f.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("record highest revision: %w", err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("record highest revision: %w", err)
		}
	}
	return nil
}
