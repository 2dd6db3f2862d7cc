package agentvault

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/envfile"
	"github.com/agentvault/agentvault/internal/record"
)

// ImportOptions controls ImportEnv.
type ImportOptions struct {
	// Namespace is the path prefix: variable KEY becomes Namespace + "/" +
	// KEY. Empty: KEY alone is the path.
	Namespace string
	// Tier of created secrets whose variable matches no TierPrefixes entry.
	// Default TierSensitive.
	Tier AccessTier
	// TierPrefixes maps a variable-name prefix ("DB_") to a tier; the
	// longest matching prefix wins.
	TierPrefixes map[string]AccessTier
	// Type of created secrets whose variable matches no TypePrefixes entry.
	// Default TypeCustom.
	Type SecretType
	// TypePrefixes maps a variable-name prefix to a type; longest wins.
	TypePrefixes map[string]SecretType
	// DryRun computes the plan (every variable's path, tier and action)
	// and writes nothing.
	DryRun bool
	// Overwrite adds a new version to existing secrets whose value differs.
	// Without it existing secrets are skipped. Tier and type apply to
	// created secrets only: an import never changes an existing secret's
	// metadata.
	Overwrite bool
	// Parse options for the .env input (size limits).
	ParseOptions []envfile.Option
	// ImportID, if set, is the id recorded in this import's audit events
	// instead of a random one: a caller splitting one logical import into
	// several ImportEnv calls gives them all the same id. 1–64 characters
	// of A–Z a–z 0–9 . _ -.
	ImportID string
	// Progress, if set, is called after each variable is done (written,
	// skipped or planned), with the count so far and the total, from the
	// goroutine that called ImportEnv.
	Progress func(done, total int)
}

// ImportAction is what ImportEnv did, or in a dry run would do, with one variable.
type ImportAction string

// Import actions.
const (
	ImportCreated   ImportAction = "created"   // a new secret, version v1
	ImportUpdated   ImportAction = "updated"   // Overwrite: a new version with the new value
	ImportSkipped   ImportAction = "skipped"   // exists, and Overwrite is off
	ImportUnchanged ImportAction = "unchanged" // exists with the same value (Overwrite on)
)

// ImportedSecret is one variable's outcome.
type ImportedSecret struct {
	Variable string       `json:"variable"`
	Line     int          `json:"line"`
	Path     string       `json:"path"`
	Type     SecretType   `json:"type"`
	Tier     AccessTier   `json:"tier"`
	Action   ImportAction `json:"action"`
	Version  string       `json:"version,omitempty"` // the active version after the import
}

// ImportResult reports an import. Skipped counts both skipped and unchanged
// variables. When ImportEnv fails part-way, the result lists exactly the
// variables already written.
type ImportResult struct {
	Created  int              `json:"created"`
	Updated  int              `json:"updated"`
	Skipped  int              `json:"skipped"`
	DryRun   bool             `json:"dry_run"`
	Secrets  []ImportedSecret `json:"secrets"`
	Warnings []string         `json:"warnings,omitempty"`  // e.g. duplicate variables (the last definition wins)
	ImportID string           `json:"import_id,omitempty"` // the id of this import in its audit events
}

// ImportEnv imports the variables of a .env file (see package envfile for
// the grammar) as secrets at Namespace/VARIABLE. It is idempotent: running
// it again skips what exists, or with Overwrite adds a version only where
// the value changed.
//
// Everything is checked before anything is written: a parse error, an
// invalid path or an oversized value anywhere writes nothing. If the
// backend or key provider fails part-way, the result lists what was written
// and the error says where it stopped; running the import again finishes
// the job.
//
// Audit: every import gets a random id (ImportResult.ImportID). Each secret
// it creates or updates gets two secret.imported events carrying that id
// and the secret's path: a write-ahead event (OutcomePending, Reason
// "created" or "updated") written before the secret, and one with the
// outcome (and the version) after it. The write-ahead event is written and
// stored before the secret is touched, and the import stops with
// ErrAuditFailed if it cannot be, so even a process killed mid-import
// leaves no imported secret without an event naming it (at worst a
// pending event for a write that never happened). A last secret.imported
// event at the namespace sums the import up (created, updated, skipped).
func (v *AgentVault) ImportEnv(ctx context.Context, r io.Reader, opts ImportOptions) (res *ImportResult, err error) {
	const op = "import"
	if err := v.enter(); err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	defer v.leave()
	id, idErr := opts.ImportID, error(nil)
	switch {
	case id == "":
		id = newImportID()
	case !validImportID(id) || hasCredential(id):
		id, idErr = "", fmt.Errorf("%w: import id: want 1–64 characters of A-Z a-z 0-9 . _ -", ErrInvalidInput)
	}
	defer v.auditImport(ctx, opts, id, &res, &err)
	actx := ctx             // the per-secret events
	ctx = withoutAudit(ctx) // the creates and updates: importOne writes their events
	if _, err := v.ctxActor(actx); err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	if idErr != nil {
		return nil, opErr(op, safePath(opts.Namespace, idErr), "", idErr)
	}
	plan, res, err := v.planImport(r, opts)
	if err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	existing, err := v.existingPaths(ctx, opts.Namespace, plan)
	if err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	res.DryRun, res.ImportID = opts.DryRun, id
	imp := importer{v: v, ctx: ctx, actx: actx, id: id, opts: opts}
	imp.older, _ = actx.Value(importPathKey{}).(importPath)
	done := func(p importItem, action ImportAction, version string) {
		item := ImportedSecret{Variable: p.entry.Key, Line: p.entry.Line, Path: p.path, Type: p.typ, Tier: p.tier,
			Action: action, Version: version}
		switch action {
		case ImportCreated:
			res.Created++
		case ImportUpdated:
			res.Updated++
		default:
			res.Skipped++
		}
		res.Secrets = append(res.Secrets, item)
		if opts.Progress != nil {
			opts.Progress(len(res.Secrets), len(plan))
		}
	}
	fail := func(p importItem, err error) error {
		return opErr(op, p.path, "", fmt.Errorf("variable %s (line %d): %w; %d of %d variables done, run the import again to finish",
			p.entry.Key, p.entry.Line, err, len(res.Secrets), len(plan)))
	}
	// The next batch of new secrets is sealed (encrypted, encoded: no
	// write) while the current one is written.
	var ahead *sealing
	defer func() {
		if ahead != nil {
			ahead.wait().discard()
		}
	}()
	for i := 0; i < len(plan); {
		// New secrets go in batches (one backend round trip, on the file
		// backend one directory sync, per batch); the rest one by one.
		if n := imp.creatable(plan[i:], existing); n > 0 {
			var sb *sealedBatch
			if ahead != nil && ahead.at == i {
				sb, ahead = ahead.wait(), nil
			} else {
				sb = imp.seal(plan[i : i+n])
			}
			if m := imp.creatable(plan[i+n:], existing); m > 0 && imp.older == importBatched {
				ahead = imp.sealAhead(i+n, plan[i+n:i+n+m])
			}
			if p, err := imp.createMany(sb, done); err != nil {
				return res, fail(p, err)
			}
			i += n
			continue
		}
		p := plan[i]
		action, version, err := imp.one(p, existing[p.path])
		if err != nil {
			return res, fail(p, err)
		}
		done(p, action, version)
		i++
	}
	return res, nil
}

func validImportID(id string) bool {
	if len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !segmentByte(id[i]) {
			return false
		}
	}
	return true
}

// newImportID returns a random import id: "imp_" and 16 hex digits.
func newImportID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("agentvault: crypto/rand failed: " + err.Error())
	}
	return "imp_" + hex.EncodeToString(b[:])
}

type importItem struct {
	entry envfile.Entry
	path  string
	tier  AccessTier
	typ   SecretType
}

// planImport parses and validates everything; it writes nothing.
func (v *AgentVault) planImport(r io.Reader, opts ImportOptions) ([]importItem, *ImportResult, error) {
	if opts.Namespace != "" {
		if err := ValidatePath(opts.Namespace); err != nil {
			return nil, nil, fmt.Errorf("namespace: %w", err)
		}
	}
	defTier, defType := opts.Tier, opts.Type
	if defTier == "" {
		defTier = TierSensitive
	}
	if defType == "" {
		defType = TypeCustom
	}
	if !defTier.Valid() {
		_, err := ParseAccessTier(string(defTier))
		return nil, nil, err
	}
	if !defType.Valid() {
		_, err := ParseSecretType(string(defType))
		return nil, nil, err
	}
	for p, t := range opts.TierPrefixes {
		if !t.Valid() {
			return nil, nil, fmt.Errorf("%w: tier prefix %q: unknown tier %q", ErrInvalidInput, truncate(p, 64), truncate(string(t), 32))
		}
	}
	for p, t := range opts.TypePrefixes {
		if !t.Valid() {
			return nil, nil, fmt.Errorf("%w: type prefix %q: unknown type %q", ErrInvalidInput, truncate(p, 64), truncate(string(t), 32))
		}
	}
	f, err := envfile.Parse(r, opts.ParseOptions...)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	res := &ImportResult{Secrets: []ImportedSecret{}}
	for _, w := range f.Warnings {
		res.Warnings = append(res.Warnings, w.String())
	}
	entries := f.Dedup()
	res.Secrets = make([]ImportedSecret, 0, len(entries))
	plan := make([]importItem, 0, len(entries))
	for _, e := range entries {
		path := e.Key
		if opts.Namespace != "" {
			path = opts.Namespace + "/" + e.Key
		}
		if err := ValidatePath(path); err != nil {
			return nil, nil, fmt.Errorf("variable %s (line %d): %w", truncate(e.Key, 64), e.Line, err)
		}
		if len(e.Value) > v.opts.maxValueSize {
			return nil, nil, fmt.Errorf("%w: variable %s (line %d): value is %d bytes, larger than the limit of %d",
				ErrInvalidInput, e.Key, e.Line, len(e.Value), v.opts.maxValueSize)
		}
		plan = append(plan, importItem{entry: e, path: path,
			tier: longestPrefix(e.Key, opts.TierPrefixes, defTier),
			typ:  longestPrefix(e.Key, opts.TypePrefixes, defType)})
	}
	return plan, res, nil
}

func longestPrefix[T any](key string, prefixes map[string]T, def T) T {
	best, out := -1, def
	for p, t := range prefixes {
		if strings.HasPrefix(key, p) && len(p) > best {
			best, out = len(p), t
		}
	}
	return out
}

// existingPaths finds which planned paths exist, with one listing instead
// of a read per variable.
func (v *AgentVault) existingPaths(ctx context.Context, namespace string, plan []importItem) (map[string]bool, error) {
	prefix := secretPrefix
	if namespace != "" {
		prefix += namespace + "/"
	}
	keys, err := v.b.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(keys))
	for _, k := range keys {
		out[k[len(secretPrefix):]] = true
	}
	return out, nil
}

// importer carries one import's state: ctx (unaudited) for the writes,
// actx for their events.
type importer struct {
	v         *AgentVault
	ctx, actx context.Context
	id        string
	opts      ImportOptions
	older     importPath // benchmarks only: an earlier write path
}

// importPath names an earlier way of writing an import, kept for the
// benchmarks that measure the current one against it. Only tests can ask
// for one (export_test.go puts it in the context).
type importPath int

const (
	importBatched     importPath = iota // current: batched writes, batched audit events
	importOneByOne                      // one event write, one Put, one event write per secret (before issue 14)
	importEventSingly                   // batched writes (PutMany), one event write per secret
)

type importPathKey struct{}

// importBatch is the most new secrets an import writes in one batch.
const importBatch = 256

// creatable returns how many items at the start of plan are new secrets
// to create in one batch (0 in a dry run).
func (im *importer) creatable(plan []importItem, existing map[string]bool) int {
	if im.opts.DryRun || im.older == importOneByOne {
		return 0
	}
	n := 0
	for n < len(plan) && n < importBatch && !existing[plan[n].path] {
		n++
	}
	return n
}

// sealedBatch is a batch of new secrets sealed for writing: records
// encrypted and encoded, nothing written. err, if set, is the error of the
// first item that could not be sealed (at): then none is written.
type sealedBatch struct {
	batch  []importItem
	preps  []preparedSecret
	writes []backend.Write
	at     importItem
	err    error
}

type preparedSecret struct {
	rec  *record.Secret
	raw  []byte
	aead cipher.AEAD
}

// seal seals the secrets of batch, stopping at the first that fails.
func (im *importer) seal(batch []importItem) *sealedBatch {
	sb := &sealedBatch{preps: make([]preparedSecret, 0, len(batch)), writes: make([]backend.Write, 0, len(batch))}
	for _, p := range batch {
		rec, raw, aead, err := im.v.newSecret(im.ctx, CreateSecretInput{Path: p.path, Value: StringValue(p.entry.Value), Type: p.typ, Tier: p.tier})
		if err != nil {
			sb.at, sb.err = p, opErr("create", p.path, errVersion(err), err) // as CreateSecret words it
			break
		}
		sb.batch = append(sb.batch, p)
		sb.preps = append(sb.preps, preparedSecret{rec, raw, aead})
		sb.writes = append(sb.writes, backend.Write{Key: secretPrefix + p.path, Value: raw})
	}
	return sb
}

// discard clears the sealed records of a batch never written.
func (sb *sealedBatch) discard() {
	for _, w := range sb.writes {
		clear(w.Value)
	}
}

// sealing is a batch being sealed in the background, for the batch at
// plan index at.
type sealing struct {
	at   int
	done chan *sealedBatch
}

func (im *importer) sealAhead(at int, batch []importItem) *sealing {
	s := &sealing{at: at, done: make(chan *sealedBatch, 1)}
	go func() { s.done <- im.seal(batch) }()
	return s
}

func (s *sealing) wait() *sealedBatch { return <-s.done }

// createMany creates the secrets of a sealed batch with one PutMany. Each
// one's write-ahead audit event is stored before the batch is written,
// and its outcome event after, so the audit stays exact per secret. A
// secret created concurrently since the listing goes the single-write way
// (skip, or update with Overwrite). On failure it returns the item that
// failed; every item reported to done before it was written.
func (im *importer) createMany(sb *sealedBatch, done func(importItem, ImportAction, string)) (importItem, error) {
	v, ctx := im.v, im.ctx
	if sb.err != nil {
		sb.discard()
		return sb.at, sb.err // nothing of the batch is written
	}
	batch, preps, writes := sb.batch, sb.preps, sb.writes
	// The batch's write-ahead events, stored together before any of its
	// secrets: a secret is written only if its event is durable. On a
	// backend.Appender they fail together (nothing of the batch is
	// written); with one Put per event, the secrets before the first
	// failed event are written, then the import stops.
	var stop error
	var stopAt importItem
	for i, err := range im.events(batch, ImportCreated, "", true, nil) {
		if err != nil {
			stop, stopAt, batch, writes = err, batch[i], batch[:i], writes[:i]
			break
		}
	}
	if len(batch) == 0 {
		return stopAt, stop
	}
	res, err := v.b.PutMany(ctx, writes)
	if err != nil {
		im.events(batch, ImportCreated, "v1", false, func(int) error { return err })
		return batch[0], opErr("create", batch[0].path, "", err)
	}
	errs := make([]error, len(batch))
	for i := range batch {
		errs[i] = res[i].Err
		if errors.Is(errs[i], backend.ErrConflict) {
			errs[i] = ErrAlreadyExists
		}
	}
	// The outcome events, together; their failure changes nothing.
	im.events(batch, ImportCreated, "v1", false, func(i int) error { return errs[i] })
	var firstErr error
	var failed importItem
	for i, p := range batch {
		switch err := errs[i]; {
		case err == nil:
			v.created(p.path, preps[i].rec, preps[i].raw, preps[i].aead)
			done(p, ImportCreated, "v1")
		case errors.Is(err, ErrAlreadyExists) && firstErr == nil:
			// Created concurrently since the listing: treat as existing.
			action, version, err := im.one(p, true)
			if err != nil {
				firstErr, failed = err, p
				continue
			}
			done(p, action, version)
		case firstErr == nil:
			firstErr, failed = opErr("create", p.path, "", err), p
		}
	}
	if firstErr == nil && stop != nil {
		return stopAt, stop
	}
	return failed, firstErr
}

func (im *importer) one(p importItem, exists bool) (ImportAction, string, error) {
	v, ctx := im.v, im.ctx
	value := StringValue(p.entry.Value)
	if !exists {
		if im.opts.DryRun {
			return ImportCreated, "v1", nil
		}
		if err := im.event(p, ImportCreated, "", true, nil); err != nil {
			return "", "", err
		}
		_, err := v.CreateSecret(ctx, CreateSecretInput{Path: p.path, Value: value, Type: p.typ, Tier: p.tier})
		_ = im.event(p, ImportCreated, "v1", false, err)
		if err == nil {
			return ImportCreated, "v1", nil
		}
		if !errors.Is(err, ErrAlreadyExists) {
			return "", "", err
		}
		// Created concurrently since the listing: treat as existing.
	}
	if !im.opts.Overwrite {
		return ImportSkipped, "", nil
	}
	same, active, err := v.activeValueEquals(ctx, p.path, value)
	if err != nil {
		return "", "", err
	}
	if same {
		return ImportUnchanged, active, nil
	}
	if im.opts.DryRun {
		return ImportUpdated, "", nil
	}
	if err := im.event(p, ImportUpdated, "", true, nil); err != nil {
		return "", "", err
	}
	m, err := v.UpdateSecret(ctx, p.path, UpdateSecretInput{Value: &value})
	var version string
	if m != nil {
		version = m.Version
	}
	_ = im.event(p, ImportUpdated, version, false, err)
	if err != nil {
		return "", "", err
	}
	return ImportUpdated, m.Version, nil
}

// event writes one per-secret secret.imported event: the write-ahead one
// (pending) or the outcome of the write (err). Only a failure to write the
// write-ahead event matters: the write must then not happen.
func (im *importer) event(p importItem, action ImportAction, version string, pending bool, err error) error {
	if !im.v.auditing(im.actx) {
		return nil
	}
	return im.v.emit(im.actx, im.newEvent(p, action, version, pending, err))
}

// events writes the per-secret events of a batch, in order, with one
// group write (see emitMany) and returns one error per item. errOf(i), if
// set, is item i's outcome.
func (im *importer) events(batch []importItem, action ImportAction, version string, pending bool, errOf func(int) error) []error {
	if !im.v.auditing(im.actx) {
		return make([]error, len(batch))
	}
	evs := make([]*AuditEvent, len(batch))
	for i, p := range batch {
		var err error
		if errOf != nil {
			err = errOf(i)
		}
		evs[i] = im.newEvent(p, action, version, pending, err)
	}
	if im.older == importEventSingly {
		errs := make([]error, len(evs))
		for i, e := range evs {
			if errs[i] = im.v.emit(im.actx, e); errs[i] != nil && pending {
				break
			}
		}
		return errs
	}
	return im.v.emitMany(im.actx, evs)
}

func (im *importer) newEvent(p importItem, action ImportAction, version string, pending bool, err error) *AuditEvent {
	e := im.v.event(im.actx, EventSecretImported, p.path)
	e.ImportID, e.Version = im.id, version
	if action == ImportCreated {
		e.Type, e.Tier = p.typ, p.tier
	}
	if pending {
		e.Outcome, e.Reason = OutcomePending, string(action)
	} else if e.finish(err); err == nil {
		e.Reason = string(action)
	}
	return e
}

// activeValueEquals compares the active value of path with val, also for an
// expired secret (an import may renew an expired value).
func (v *AgentVault) activeValueEquals(ctx context.Context, path string, val SecretValue) (bool, string, error) {
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return false, "", err
	}
	ver := rec.Find(rec.Active)
	pt, err := v.open(ctx, path, rec, ver)
	if err != nil {
		return false, "", err
	}
	defer clear(pt)
	return string(pt) == string(val.b), FormatVersion(rec.Active), nil
}
