package filebackend

import "os"

// sys is the seam between the backend's writes and the file system: every
// step of writeAtomic and Delete that can fail goes through it. Tests in
// this package replace functions to inject errors (ENOSPC, EIO, short
// writes) at each step; nothing else changes it.
var sys = struct {
	createTemp func(dir, pattern string) (*os.File, error)
	write      func(f *os.File, b []byte) (int, error)
	sync       func(f *os.File) error // a file's data, or a directory's entries
	close      func(f *os.File) error
	rename     func(from, to string) error
	remove     func(path string) error
}{
	createTemp: os.CreateTemp,
	write:      (*os.File).Write,
	sync:       (*os.File).Sync,
	close:      (*os.File).Close,
	rename:     os.Rename,
	remove:     os.Remove,
}
