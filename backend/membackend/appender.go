package membackend

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/agentvault/agentvault/backend"
)

var _ backend.Appender = (*Backend)(nil)

// chunkSize is the size of the blocks a log's records are copied into. A
// record longer than that gets a block of its own.
const chunkSize = 64 << 10

// memLog is one named log. Its records are copied, each followed by a
// newline (a record holds none), into blocks of chunkSize bytes that are
// only ever appended to, so a stored record never moves and never changes.
// The blocks hold no pointers, so a long log costs the garbage collector
// nothing to scan; only the newest record's position is kept, for Last.
type memLog struct {
	chunks [][]byte // each with cap fixed at allocation; only the last one grows
	n      int      // records
	tail   recPos   // the newest record
}

type recPos struct {
	chunk    int
	off, len int
}

// last returns the newest record, nil when there is none.
func (l *memLog) last() []byte {
	if l == nil || l.n == 0 {
		return nil
	}
	p := l.tail
	return l.chunks[p.chunk][p.off : p.off+p.len : p.off+p.len]
}

// add copies r to the end of the log.
func (l *memLog) add(r []byte) {
	n := len(l.chunks) - 1
	if n < 0 || cap(l.chunks[n])-len(l.chunks[n]) < len(r)+1 {
		l.chunks = append(l.chunks, make([]byte, 0, max(chunkSize, len(r)+1)))
		n++
	}
	c := l.chunks[n]
	l.tail = recPos{chunk: n, off: len(c), len: len(r)}
	l.chunks[n] = append(append(c, r...), '\n')
	l.n++
}

// each calls f with every record, oldest first.
func (l *memLog) each(f func(r []byte)) {
	for _, c := range l.chunks {
		for len(c) > 0 {
			i := bytes.IndexByte(c, '\n')
			f(c[:i])
			c = c[i+1:]
		}
	}
}

// Append adds copies of records to the end of the named log if its last
// record equals last (nil: the log is empty or missing); see
// backend.Appender. All of them or none are added.
func (b *Backend) Append(ctx context.Context, name string, last []byte, records [][]byte) error {
	if err := backend.ValidateRecords(records); err != nil {
		return fmt.Errorf("membackend: append log %s: %w", truncName(name), err)
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	l := b.logs[name]
	if l == nil { // a name is validated before its log is created
		if err := backend.ValidateLogName(name); err != nil {
			return fmt.Errorf("membackend: append log: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("membackend: append log %s: %w", name, err)
	}
	if b.closed {
		return fmt.Errorf("membackend: append log %s: %w", name, backend.ErrClosed)
	}
	cur := l.last()
	if (last == nil) != (cur == nil) || !bytes.Equal(cur, last) {
		return fmt.Errorf("membackend: append log %s: the log's last record is not the one expected: %w", name, backend.ErrConflict)
	}
	if len(records) == 0 {
		return nil
	}
	if l == nil {
		if b.logs == nil {
			b.logs = make(map[string]*memLog)
		}
		l = new(memLog)
		b.logs[name] = l
	}
	for _, r := range records {
		l.add(r)
	}
	return nil
}

// Last returns a copy of the log's newest record, or nil.
func (b *Backend) Last(ctx context.Context, name string) ([]byte, error) {
	if err := checkLog(ctx, "last", name); err != nil {
		return nil, err
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: last log %s: %w", name, backend.ErrClosed)
	}
	if r := b.logs[name].last(); r != nil {
		return clone(r), nil
	}
	return nil, nil
}

// ReadLog returns copies of every record of the log, oldest first; nil for
// a log that does not exist.
func (b *Backend) ReadLog(ctx context.Context, name string) ([][]byte, error) {
	if err := checkLog(ctx, "read", name); err != nil {
		return nil, err
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: read log %s: %w", name, backend.ErrClosed)
	}
	l := b.logs[name]
	if l == nil || l.n == 0 {
		return nil, nil
	}
	size := 0
	for _, c := range l.chunks {
		size += len(c)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, 0, l.n)
	l.each(func(r []byte) {
		start := len(buf)
		buf = append(buf, r...)
		out = append(out, buf[start:len(buf):len(buf)])
	})
	return out, nil
}

// Logs returns the names of the non-empty logs starting with prefix, in
// ascending byte order.
func (b *Backend) Logs(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("membackend: logs %q: %w", prefix, err)
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("membackend: logs %q: %w", prefix, backend.ErrClosed)
	}
	var names []string
	for n, l := range b.logs {
		if l.n > 0 && strings.HasPrefix(n, prefix) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// checkLog validates name and ctx, in that order.
func checkLog(ctx context.Context, op, name string) error {
	if err := backend.ValidateLogName(name); err != nil {
		return fmt.Errorf("membackend: %s log: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("membackend: %s log %s: %w", op, name, err)
	}
	return nil
}

// ReplaceLog sets the named log to copies of records, whatever it held
// (none: the log is removed). Logs are append-only to every other method:
// this one exists so that tests can play someone with write access to the
// store who edits, deletes, reorders or truncates records. agentvault
// never calls it.
func (b *Backend) ReplaceLog(ctx context.Context, name string, records [][]byte) error {
	if err := checkLog(ctx, "replace", name); err != nil {
		return err
	}
	if err := backend.ValidateRecords(records); err != nil {
		return fmt.Errorf("membackend: replace log %s: %w", name, err)
	}
	b.lmu.Lock()
	defer b.lmu.Unlock()
	if b.closed {
		return fmt.Errorf("membackend: replace log %s: %w", name, backend.ErrClosed)
	}
	if len(records) == 0 {
		delete(b.logs, name)
		return nil
	}
	l := new(memLog)
	for _, r := range records {
		l.add(r)
	}
	if b.logs == nil {
		b.logs = make(map[string]*memLog)
	}
	b.logs[name] = l
	return nil
}

// truncName shortens a log name not yet validated, for an error message.
func truncName(name string) string {
	if len(name) > backend.MaxLogNameLen {
		return fmt.Sprintf("%.80q…", name)
	}
	return fmt.Sprintf("%q", name)
}
