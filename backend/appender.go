package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// MaxLogNameLen is the longest log name, in bytes, an Appender accepts.
const MaxLogNameLen = 80

// MaxRecordLen is the longest record, in bytes, an Appender accepts.
const MaxRecordLen = 1 << 20

// Appender is an optional capability: named append-only logs of records,
// where a group of records is appended with one durable write. agentvault
// keeps its audit trail in them when the backend has it (one log per audit
// writer), so that the events of concurrent operations share one write and
// a new process finds the end of its chain without listing it.
//
// A log name is 1–MaxLogNameLen bytes of A–Z a–z 0–9 . _ -. A record is
// 1–MaxRecordLen bytes without a newline ('\n') byte. Implementations must
// be safe for concurrent use by goroutines and, for stores shared between
// processes, by processes.
type Appender interface {
	// Append adds records, in order, to the end of the named log (creating
	// it) if the log's last record currently equals last (nil: the log is
	// empty or does not exist). On mismatch it writes nothing and returns
	// ErrConflict. A nil return means every record is durable. Another
	// error means that none of the records, or only a prefix of them, was
	// written (never part of one).
	Append(ctx context.Context, log string, last []byte, records [][]byte) error

	// Last returns the log's last record, or nil when the log is empty or
	// does not exist. It reads a bounded amount whatever the log's length.
	Last(ctx context.Context, log string) ([]byte, error)

	// ReadLog returns every record of the log, oldest first; nil for a log
	// that does not exist.
	ReadLog(ctx context.Context, log string) ([][]byte, error)

	// Logs returns the names of the non-empty logs that start with prefix,
	// in ascending byte order.
	Logs(ctx context.Context, prefix string) ([]string, error)
}

// ValidateLogName reports whether name is acceptable as a log name,
// returning an error wrapping ErrInvalidKey if not.
func ValidateLogName(name string) error {
	ok := name != "" && len(name) <= MaxLogNameLen
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: log name %q: want 1-%d bytes of A-Z a-z 0-9 . _ -", ErrInvalidKey, truncateName(name), MaxLogNameLen)
	}
	return nil
}

// ErrInvalidRecord is returned (wrapped) by Append when a record is empty,
// longer than MaxRecordLen, or contains a newline byte. Nothing is written.
var ErrInvalidRecord = errors.New("backend: invalid log record")

// ValidateRecords reports whether every record is acceptable to Append.
func ValidateRecords(records [][]byte) error {
	for i, r := range records {
		switch {
		case len(r) == 0:
			return fmt.Errorf("%w: record %d is empty", ErrInvalidRecord, i)
		case len(r) > MaxRecordLen:
			return fmt.Errorf("%w: record %d is longer than %d bytes", ErrInvalidRecord, i, MaxRecordLen)
		case bytes.IndexByte(r, '\n') >= 0:
			return fmt.Errorf("%w: record %d contains a newline", ErrInvalidRecord, i)
		}
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > MaxLogNameLen {
		return s[:MaxLogNameLen] + "…"
	}
	return s
}
