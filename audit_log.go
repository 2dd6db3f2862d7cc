package agentvault

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/agentvault/agentvault/backend"
)

// Group commit. Every operation's event joins the pending batch of its
// writer; the first operation to find no flush in progress becomes the
// leader: it takes the pending batch, seals its events onto the chain and
// stores them with one write (one Append on a backend.Appender, one Put
// each otherwise), then wakes the batch's operations. Operations that
// arrive meanwhile form the next batch, whose first waiter leads it. The
// lock covers only joining a batch; the chain (seq, prev, last) is touched
// only by the leader, one at a time. Every operation still returns only
// after its own event is durable (or with its error).

// auditBatch is a group of events written together.
type auditBatch struct {
	events []*AuditEvent
	errs   []error
	done   chan struct{} // closed when the batch is written (or failed)
	lead   chan struct{} // closed when the batch may be led by one of its waiters
}

// submit adds e to the pending batch and returns once that batch is
// written, leading the write when no other is in progress. flush writes a
// batch and returns one error per event, in a slice valid until the next
// flush.
func (st *auditWriterState) submit(e *AuditEvent, flush func([]*AuditEvent) []error) error {
	st.mu.Lock()
	if !st.flushing && st.pending == nil {
		// Nothing in flight: write e alone, without a batch to wait on.
		st.flushing = true
		st.mu.Unlock()
		st.one[0] = e // the leader's alone: st.one is free
		err := flush(st.one[:])[0]
		st.one[0] = nil
		st.handOff()
		return err
	}
	b := st.pending
	if b == nil {
		b = &auditBatch{done: make(chan struct{}), lead: make(chan struct{})}
		st.pending = b
	}
	i := len(b.events)
	b.events = append(b.events, e)
	lead := !st.flushing
	st.flushing = true
	st.mu.Unlock()
	if !lead {
		select {
		case <-b.done:
			return b.errs[i]
		case <-b.lead:
		}
		st.mu.Lock()
		lead = !st.flushing && st.pending == b
		if lead {
			st.flushing = true
		}
		st.mu.Unlock()
		if !lead {
			<-b.done
			return b.errs[i]
		}
	}
	st.mu.Lock()
	st.pending = nil // b: a leader always takes the pending batch
	st.mu.Unlock()
	b.errs = slices.Clone(flush(b.events)) // flush's slice is reused by the next batch
	close(b.done)
	st.handOff()
	return b.errs[i]
}

// handOff ends a leader's flush: the next batch, if one formed meanwhile,
// is led by one of its waiters.
func (st *auditWriterState) handOff() {
	st.mu.Lock()
	st.flushing = false
	if next := st.pending; next != nil {
		close(next.lead)
	}
	st.mu.Unlock()
}

// flushAudit seals and stores one batch; it runs in the leader only. The
// errors it returns are in a slice reused by the next batch.
func (v *AgentVault) flushAudit(ctx context.Context, events []*AuditEvent) []error {
	a := &v.opts.access
	st := &a.st.audit
	key := v.accessKey()
	// errs and lines are scratch reused by the next batch (see submit).
	errs := slices.Grow(st.errs[:0], len(events))[:len(events)]
	clear(errs)
	st.errs = errs
	lines := slices.Grow(st.lines[:0], len(events))[:len(events)]
	defer func() { clear(lines); st.lines = lines[:0] }()
	failAll := func(err error) []error {
		for i := range errs {
			errs[i] = fmt.Errorf("%w: %w", ErrAuditFailed, err)
		}
		return errs
	}
	if !st.appSet {
		st.app, st.isLog, st.appSet = nil, false, true
		st.app, st.isLog = v.b.appender()
	}
	app, isLog := st.app, st.isLog
	if a.auditStore && st.resume {
		if err := st.resumeChain(ctx, v, app, key); err != nil {
			return failAll(fmt.Errorf("resume chain %s: %w", st.writer, err))
		}
	}
	switch {
	case !a.auditStore:
		st.sealBatch(events, key, lines)
		last := events[len(events)-1]
		st.seq, st.prev = last.Seq, last.Hash
	case isLog:
		if err := st.appendBatch(ctx, app, key, events, lines); err != nil {
			return failAll(err)
		}
	default:
		for i, e := range events {
			line, err := st.putEvent(ctx, v, key, e)
			if err != nil {
				errs[i] = fmt.Errorf("%w: %w", ErrAuditFailed, err)
				continue
			}
			lines[i] = line
		}
	}
	if w := a.auditWriter; w != nil {
		for i, l := range lines {
			if errs[i] != nil {
				continue
			}
			if _, err := w.Write(append(l[:len(l):len(l)], '\n')); err != nil {
				errs[i] = fmt.Errorf("%w: %w", ErrAuditFailed, err)
			}
		}
	}
	return errs
}

// sealBatch seals events onto the chain after st.seq, st.prev, filling in
// lines, without moving the chain. The lines share a buffer reused by the
// next batch: they are valid until then.
func (st *auditWriterState) sealBatch(events []*AuditEvent, key []byte, lines [][]byte) {
	seq, prev := st.seq, st.prev
	buf := slices.Grow(st.buf[:0], 512*len(events))
	for i, e := range events {
		start := len(buf)
		buf = st.appendSealed(buf, e, key)
		lines[i] = buf[start:len(buf):len(buf)]
		st.seq, st.prev = e.Seq, e.Hash
	}
	st.seq, st.prev = seq, prev
	st.buf = buf[:0]
}

// appendBatch writes a batch to the writer's log with one Append. When
// another process sharing the writer id appended first, it chains on from
// that process's newest entry and tries again.
func (st *auditWriterState) appendBatch(ctx context.Context, app backend.Appender, key []byte, events []*AuditEvent, lines [][]byte) error {
	if st.logName == "" {
		st.logName = auditLogName(st.writer)
	}
	name := st.logName
	if st.stale {
		if err := st.syncTail(ctx, app, key); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		st.sealBatch(events, key, lines)
		err := app.Append(ctx, name, st.last, lines)
		if errors.Is(err, backend.ErrConflict) && attempt < maxAdopt {
			if serr := st.syncTail(ctx, app, key); serr == nil {
				continue
			}
		}
		if err != nil {
			// A failed Append may have written some of the batch: the
			// next one starts from the stored tail.
			st.stale = true
			return err
		}
		last := events[len(events)-1]
		st.lastBuf = append(st.lastBuf[:0], lines[len(lines)-1]...)
		st.seq, st.prev, st.last = last.Seq, last.Hash, st.lastBuf
		return nil
	}
}

// syncTail moves the chain to the newest authentic entry of the writer's
// log (none: the chain stays where it is, the log starts empty).
func (st *auditWriterState) syncTail(ctx context.Context, app backend.Appender, key []byte) error {
	raw, err := app.Last(ctx, auditLogName(st.writer))
	if err != nil {
		return err
	}
	if raw != nil {
		e, err := parseAuditEvent(raw, key)
		if err != nil {
			return fmt.Errorf("%w: newest entry of log %s: %w", ErrIntegrity, auditLogName(st.writer), err)
		}
		if e.Writer != st.writer {
			return fmt.Errorf("%w: newest entry of log %s belongs to writer %q", ErrIntegrity, auditLogName(st.writer), e.Writer)
		}
		st.seq, st.prev = e.Seq, e.Hash
	}
	st.last, st.stale = raw, false
	return nil
}

// putEvent stores one event under its own key, with a create-only Put (a
// backend without logs).
func (st *auditWriterState) putEvent(ctx context.Context, v *AgentVault, key []byte, e *AuditEvent) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		line := st.seal(e, key)
		_, err := v.b.Put(ctx, auditKey(st.writer, e.Seq), line, 0)
		// An earlier Put that reported an error but landed, or another
		// process sharing this writer id (WithAuditWriterID), got there
		// first: chain on from its entry.
		if errors.Is(err, backend.ErrConflict) && attempt < maxAdopt && st.adopt(ctx, v, key) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st.seq, st.prev = e.Seq, e.Hash
		return line, nil
	}
}

// auditLogName is the backend.Appender log of a writer's chain.
func auditLogName(writer string) string { return auditLogPrefix + writer }

const auditLogPrefix = "audit."

// auditLogWhere names a log entry in errors: the log and the record's
// position in it, from 1.
func auditLogWhere(log string, i int) string {
	return "log " + log + " record " + strconv.Itoa(i+1)
}

// readAuditLogs returns every writer log's records, logs in name order.
func (v *AgentVault) readAuditLogs(ctx context.Context) (names []string, records [][][]byte, err error) {
	app, ok := v.b.appender()
	if !ok {
		return nil, nil, nil
	}
	names, err = app.Logs(ctx, auditLogPrefix)
	if err != nil {
		return nil, nil, err
	}
	records = make([][][]byte, len(names))
	for i, n := range names {
		if records[i], err = app.ReadLog(ctx, n); err != nil {
			return nil, nil, err
		}
	}
	return names, records, nil
}

// appender returns the backend's log capability, its errors mapped like
// every other call's (see storage).
func (s storage) appender() (backend.Appender, bool) {
	a, ok := s.b.(backend.Appender)
	if !ok {
		return nil, false
	}
	return storageAppender{a}, true
}

type storageAppender struct{ a backend.Appender }

func (s storageAppender) Append(ctx context.Context, log string, last []byte, records [][]byte) error {
	return integrityErr(s.a.Append(ctx, log, last, records))
}

func (s storageAppender) Last(ctx context.Context, log string) ([]byte, error) {
	r, err := s.a.Last(ctx, log)
	return r, integrityErr(err)
}

func (s storageAppender) ReadLog(ctx context.Context, log string) ([][]byte, error) {
	r, err := s.a.ReadLog(ctx, log)
	return r, integrityErr(err)
}

func (s storageAppender) Logs(ctx context.Context, prefix string) ([]string, error) {
	r, err := s.a.Logs(ctx, prefix)
	return r, integrityErr(err)
}
