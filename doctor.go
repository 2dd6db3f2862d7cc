package agentvault

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/agentvault/agentvault/backend"
)

// DoctorReport is what Doctor found. The vault opened, so its
// configuration and key provider belong together (New fails otherwise).
type DoctorReport struct {
	Secrets  int `json:"secrets"`  // secret records read and authenticated
	Versions int `json:"versions"` // stored versions whose value decrypted and authenticated

	// Problems lists every secret record or version that cannot be read,
	// sorted by path then version.
	Problems []RecordProblem `json:"problems"`

	// OrphanVersions lists the backend keys of version records that no
	// secret references (left by a crash between writing a version and
	// its secret's head, or by an interrupted delete or prune). They hold
	// no readable data and do not make the vault unsound; RunOnce removes
	// them once they are older than 15 minutes.
	OrphanVersions []string `json:"orphan_versions,omitempty"`

	AuditEvents int `json:"audit_events"` // audit entries checked
	AuditChains int `json:"audit_chains"` // audit chains checked
	// AuditError is the first break in the audit chains (see VerifyAudit),
	// "" when they are intact.
	AuditError string `json:"audit_error,omitempty"`
}

// Sound reports whether Doctor found nothing wrong.
func (r *DoctorReport) Sound() bool { return len(r.Problems) == 0 && r.AuditError == "" }

// RecordProblem is one secret record, or one version of it, that cannot be
// read. Problem never holds a value or key.
type RecordProblem struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"` // "" for the record itself
	Problem string `json:"problem"`
}

// Doctor checks the whole vault: every secret record authenticates, every
// stored version's data key unwraps and its value decrypts and
// authenticates, and every audit chain verifies. It reads every value (and
// wipes each at once) but writes nothing and is not audited. It fails only
// when the backend or the key provider cannot be reached; damage is
// reported in the DoctorReport (see DoctorReport.Sound).
func (v *AgentVault) Doctor(ctx context.Context) (*DoctorReport, error) {
	const op = "doctor"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	keys, err := v.b.List(ctx, secretPrefix)
	if err != nil {
		return nil, opErr(op, "", "", err)
	}
	rep := &DoctorReport{Problems: []RecordProblem{}}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, opErr(op, "", "", err)
		}
		path := k[len(secretPrefix):]
		rec, _, err := v.load(ctx, path)
		switch {
		case errors.Is(err, ErrNotFound):
			continue // deleted meanwhile
		case errors.Is(err, ErrIntegrity):
			rep.Problems = append(rep.Problems, RecordProblem{Path: path, Problem: problemText(err)})
			continue
		case err != nil:
			return nil, opErr(op, path, "", err)
		}
		rep.Secrets++
		for i := range rec.Versions {
			ver := &rec.Versions[i]
			pt, err := v.open(ctx, path, rec, ver)
			clear(pt)
			if err != nil {
				if ctx.Err() != nil {
					return nil, opErr(op, path, "", ctx.Err())
				}
				rep.Problems = append(rep.Problems, RecordProblem{Path: path, Version: FormatVersion(ver.Number), Problem: problemText(err)})
				continue
			}
			rep.Versions++
		}
	}
	orphans, err := v.orphanVersions(ctx)
	if err != nil {
		return nil, opErr(op, "", "", err)
	}
	for _, o := range orphans {
		rep.OrphanVersions = append(rep.OrphanVersions, o.key)
	}
	if v.opts.access.auditStore {
		ar, err := v.VerifyAudit(ctx)
		var ie *AuditIntegrityError
		switch {
		case errors.As(err, &ie):
			rep.AuditError = strings.TrimPrefix(ie.Error(), "agentvault: ")
		case err != nil:
			return nil, err
		default:
			rep.AuditEvents, rep.AuditChains = ar.Events, ar.Writers
		}
	}
	return rep, nil
}

// problemText is an error's text for a report, without package prefixes.
func problemText(err error) string {
	return strings.ReplaceAll(err.Error(), "agentvault: ", "")
}

// UnreadableAuditError reports audit entries that QueryAudit skipped
// because they do not authenticate (altered or corrupted). It unwraps to
// ErrIntegrity. VerifyAudit locates the first break of each chain.
type UnreadableAuditError struct {
	Keys []string // the entries' backend keys, in listing order
}

func (e *UnreadableAuditError) Error() string {
	var b strings.Builder
	b.WriteString("agentvault: " + strconv.Itoa(len(e.Keys)) + " audit entr")
	if len(e.Keys) == 1 {
		b.WriteString("y")
	} else {
		b.WriteString("ies")
	}
	b.WriteString(" could not be read (integrity check failed: record altered or corrupted)")
	const show = 10
	for i, k := range e.Keys {
		if i == show {
			fmt.Fprintf(&b, ", and %d more", len(e.Keys)-show)
			break
		}
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(k)
	}
	return b.String()
}

// Unwrap returns ErrIntegrity.
func (e *UnreadableAuditError) Unwrap() error { return ErrIntegrity }

// getReadable reads keys like getMany. When the batch fails with
// ErrIntegrity (one stored record that the backend itself cannot parse, a
// truncated file, fails the whole batch), it reads the keys one by one and
// returns the ones that fail with ErrIntegrity in bad, so that one damaged
// record does not hide the others. Items of keys deleted meanwhile have a
// nil Value.
func (v *AgentVault) getReadable(ctx context.Context, keys []string) (items []backend.Item, bad []string, err error) {
	items, err = v.getMany(ctx, keys)
	if err == nil || !errors.Is(err, ErrIntegrity) {
		return items, nil, err
	}
	items = make([]backend.Item, 0, len(keys))
	for _, k := range keys {
		val, rev, err := v.b.Get(ctx, k)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			val = nil
		case errors.Is(err, ErrIntegrity):
			bad = append(bad, k)
			continue
		case err != nil:
			return nil, nil, err
		}
		items = append(items, backend.Item{Key: k, Value: val, Rev: rev})
	}
	return items, bad, nil
}
