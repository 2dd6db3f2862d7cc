package filebackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/agentvault/agentvault/backend"
)

// Logs (backend.Appender) live below <dir>/.logs, one directory per log
// named by its escaped name, holding a lock file and numbered segment files:
//
//	.logs/audit.%41b3/.lock
//	.logs/audit.%41b3/00000000000000000001.log
//
// A segment holds records one per line, each ended by '\n'. Append writes
// a group with one write and one fsync (and a directory fsync when it
// starts a segment); a line without its '\n' is a torn write that was never
// acknowledged: readers ignore it and the next Append cuts it off. A
// segment is rolled once it holds SegmentSize bytes. Names starting with
// '.' never hold keys, so logs and keys cannot collide.
const (
	logsDir       = ".logs"
	segmentSuffix = ".log"

	// SegmentSize is the size at which a log's segment is closed and the
	// next one started.
	SegmentSize = 8 << 20

	// tailChunk is the first read from a segment's end when looking for its
	// last record; it doubles until the record is whole.
	tailChunk = 4 << 10
)

var _ backend.Appender = (*Backend)(nil)

func (b *Backend) logDir(name string) string {
	return filepath.Join(b.root, logsDir, string(escape(nil, name)))
}

func (b *Backend) checkLog(ctx context.Context, op, name string) error {
	if err := backend.ValidateLogName(name); err != nil {
		return fmt.Errorf("filebackend: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("filebackend: %s log %s: %w", op, name, err)
	}
	if b.closed.Load() {
		return fmt.Errorf("filebackend: %s log %s: %w", op, name, backend.ErrClosed)
	}
	return nil
}

// Append adds records to the log under the log's own lock file, so that
// appends to different logs, and Put and Delete, do not wait for each other.
func (b *Backend) Append(ctx context.Context, name string, last []byte, records [][]byte) error {
	if err := b.checkLog(ctx, "append", name); err != nil {
		return err
	}
	if err := backend.ValidateRecords(records); err != nil {
		return fmt.Errorf("filebackend: append log %s: %w", name, err)
	}
	if err := b.appendLog(ctx, name, last, records); err != nil {
		return fmt.Errorf("filebackend: append log %s: %w", name, err)
	}
	return nil
}

func (b *Backend) appendLog(ctx context.Context, name string, last []byte, records [][]byte) error {
	dir := b.logDir(name)
	created, err := mkdirs(b.root, dir)
	if err != nil {
		return err
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	lock, err := openLogLock(filepath.Join(dir, lockName))
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := flock(ctx, int(lock.Fd())); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer funlock(int(lock.Fd()))

	segs, err := segments(dir)
	if err != nil {
		return err
	}
	tail, good, err := logTail(dir, segs)
	if err != nil {
		return err
	}
	if !bytes.Equal(tail, last) {
		return backend.ErrConflict
	}
	seg := uint64(1)
	if len(segs) > 0 {
		seg = segs[len(segs)-1]
	}
	flags := os.O_WRONLY | syscall.O_NOFOLLOW
	if len(segs) == 0 || good >= SegmentSize {
		if len(segs) > 0 {
			seg++
		}
		flags |= os.O_CREATE | os.O_EXCL
		good = 0
	}
	f, err := os.OpenFile(segmentPath(dir, seg), flags, fileMode)
	if err != nil {
		return err
	}
	err = writeRecords(f, good, records)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && flags&os.O_CREATE != 0 {
		err = syncDir(dir)
	}
	return err
}

// writeRecords writes records as lines at offset off of f, cutting off
// whatever follows off (a torn line), and syncs f.
func writeRecords(f *os.File, off int64, records [][]byte) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := checkOwnFile(f.Name(), fi); err != nil {
		return err
	}
	if fi.Size() > off {
		if err := f.Truncate(off); err != nil {
			return err
		}
	}
	n := 0
	for _, r := range records {
		n += len(r) + 1
	}
	buf := make([]byte, 0, n)
	for _, r := range records {
		buf = append(append(buf, r...), '\n')
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		return err
	}
	return f.Sync()
}

// Last returns the log's last whole record, reading a bounded amount from
// the end of its newest segments.
func (b *Backend) Last(ctx context.Context, name string) ([]byte, error) {
	if err := b.checkLog(ctx, "read", name); err != nil {
		return nil, err
	}
	dir := b.logDir(name)
	segs, err := segments(dir)
	if err == nil {
		var tail []byte
		tail, _, err = logTail(dir, segs)
		if err == nil {
			return tail, nil
		}
	}
	return nil, fmt.Errorf("filebackend: read log %s: %w", name, err)
}

// ReadLog returns every whole record of the log, segment by segment.
func (b *Backend) ReadLog(ctx context.Context, name string) ([][]byte, error) {
	if err := b.checkLog(ctx, "read", name); err != nil {
		return nil, err
	}
	dir := b.logDir(name)
	segs, err := segments(dir)
	if err != nil {
		return nil, fmt.Errorf("filebackend: read log %s: %w", name, err)
	}
	var out [][]byte
	for _, s := range segs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("filebackend: read log %s: %w", name, err)
		}
		data, err := readRecordFile(segmentPath(dir, s))
		if err != nil {
			return nil, fmt.Errorf("filebackend: read log %s: %w", name, err)
		}
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break // a torn last line, never acknowledged
			}
			if i > 0 {
				out = append(out, data[:i:i])
			}
			data = data[i+1:]
		}
	}
	return out, nil
}

// Logs returns the names of the logs that start with prefix.
func (b *Backend) Logs(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filebackend: list logs %q: %w", prefix, err)
	}
	if b.closed.Load() {
		return nil, fmt.Errorf("filebackend: list logs %q: %w", prefix, backend.ErrClosed)
	}
	entries, err := os.ReadDir(filepath.Join(b.root, logsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("filebackend: list logs %q: %w", prefix, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n, ok := unescape(nil, e.Name())
		if !ok || backend.ValidateLogName(string(n)) != nil || !strings.HasPrefix(string(n), prefix) {
			continue
		}
		names = append(names, string(n))
	}
	slices.Sort(names)
	return names, nil
}

func segmentPath(dir string, n uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", n, segmentSuffix))
}

// segments returns the numbers of dir's segment files, ascending; none
// when dir does not exist.
func segments(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var segs []uint64
	for _, e := range entries {
		num, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(num, 10, 64); err == nil && n > 0 {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}

// logTail returns the log's last whole record (nil if none) and the length
// of the newest segment up to the end of its last whole line (where the
// next record goes).
func logTail(dir string, segs []uint64) (tail []byte, good int64, err error) {
	for i := len(segs) - 1; i >= 0; i-- {
		rec, end, err := segmentTail(segmentPath(dir, segs[i]))
		if err != nil {
			return nil, 0, err
		}
		if i == len(segs)-1 {
			good = end
		}
		if rec != nil {
			return rec, good, nil
		}
	}
	return nil, good, nil
}

// segmentTail reads the last whole line of the segment at path, from its
// end, and returns it and the offset just past it.
func segmentTail(path string) ([]byte, int64, error) {
	f, size, err := openRecord(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	for chunk := int64(tailChunk); ; chunk *= 2 {
		start := max(size-chunk, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		end := bytes.LastIndexByte(buf, '\n')
		if end < 0 {
			if start == 0 {
				return nil, 0, nil // no whole line
			}
			continue
		}
		begin := bytes.LastIndexByte(buf[:end], '\n') + 1
		if begin == 0 && start > 0 {
			continue // the line starts before this chunk
		}
		if begin == end { // an empty line: look further back
			if rec, _, err := lastLineBefore(f, start+int64(end)); err != nil || rec != nil {
				return rec, start + int64(end) + 1, err
			}
			return nil, start + int64(end) + 1, nil
		}
		return buf[begin:end], start + int64(end) + 1, nil
	}
}

// lastLineBefore returns the last non-empty line ending before offset off.
func lastLineBefore(f *os.File, off int64) ([]byte, int64, error) {
	buf := make([]byte, off)
	if _, err := f.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	for _, line := range slices.Backward(bytes.Split(buf, []byte{'\n'})) {
		if len(line) > 0 {
			return line, 0, nil
		}
	}
	return nil, 0, nil
}

// openLogLock opens (creating if needed, mode 0600) a log's lock file,
// never through a symbolic link, and checks it is a regular file of the
// current user. Unlike the store's lock file it holds no data and is never
// chmod-ed after it is created: an inode change per Append would join the
// fsync of the segment.
func openLogLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW, fileMode)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkOwnFile(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
