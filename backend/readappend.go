package backend

import "context"

// ReadAppender is an optional capability: an Appender that reads keys and
// appends records to a log together, the append conditional on what the
// reads find, in one round trip where the store allows it. agentvault uses
// it for audited reads: the event of a read is predicted from a cached
// record, appended if the record is still at the cached revision, and the
// value returned, so that the read and its durable event cost one trip.
type ReadAppender interface {
	Appender

	// GetAppend reads every key of reads and, if each one's revision as
	// read equals its Rev (every Rev > 0) and the log's last record equals
	// last (as in Append), appends records to the log, after the reads
	// (where the store can, atomically with them: one Redis script). It
	// returns one result per read, in order, and
	// whether the records were appended. A key whose revision differs, or
	// that does not exist, only means nothing is appended: its result
	// holds what the read found (a result's Err wraps ErrNotFound for a
	// missing key).
	//
	// A result's Err may also report that a value read must not be served
	// (for example a store's lost-write detection); the records may have
	// been appended nevertheless (appended is true).
	//
	// It returns an error wrapping ErrConflict, with no results and nothing
	// appended, when every revision matched but the log's last record did
	// not. Another error means no results, and that none of the records,
	// or only a prefix of them, was appended (never part of one), as
	// Append.
	GetAppend(ctx context.Context, reads []ReadCond, log string, last []byte, records [][]byte) (results []ReadResult, appended bool, err error)
}

// ReadCond is one read of GetAppend: a key and the revision the append is
// conditional on.
type ReadCond struct {
	Key string
	Rev int64

	// Size, when not 0, is about how many bytes the value read is
	// expected to have (for example the size of a cached copy). It is a
	// hint only: a store may read small values another way than large
	// ones, never with another result.
	Size int
}

// ReadResult is what GetAppend read at one key: its value and current
// revision, or an error for that key only.
type ReadResult struct {
	Value []byte
	Rev   int64
	Err   error
}
