package agentvault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/agentvault/agentvault/envfile"
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
	Warnings []string         `json:"warnings,omitempty"` // e.g. duplicate variables (the last definition wins)
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
func (v *AgentVault) ImportEnv(ctx context.Context, r io.Reader, opts ImportOptions) (res *ImportResult, err error) {
	defer v.auditImport(ctx, opts, &res, &err)
	ctx = withoutAudit(ctx) // one secret.imported event, not one per secret
	const op = "import"
	if v.closed.Load() {
		return nil, opErr(op, safePath(opts.Namespace, ErrClosed), "", ErrClosed)
	}
	plan, res, err := v.planImport(r, opts)
	if err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	existing, err := v.existingPaths(ctx, opts.Namespace, plan)
	if err != nil {
		return nil, opErr(op, safePath(opts.Namespace, err), "", err)
	}
	res.DryRun = opts.DryRun
	for _, p := range plan {
		item := ImportedSecret{Variable: p.entry.Key, Line: p.entry.Line, Path: p.path, Type: p.typ, Tier: p.tier}
		action, version, err := v.importOne(ctx, p, existing[p.path], opts)
		if err != nil {
			return res, opErr(op, p.path, "", fmt.Errorf("variable %s (line %d): %w; %d of %d variables done, run the import again to finish",
				p.entry.Key, p.entry.Line, err, len(res.Secrets), len(plan)))
		}
		item.Action, item.Version = action, version
		switch action {
		case ImportCreated:
			res.Created++
		case ImportUpdated:
			res.Updated++
		default:
			res.Skipped++
		}
		res.Secrets = append(res.Secrets, item)
	}
	return res, nil
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

func (v *AgentVault) importOne(ctx context.Context, p importItem, exists bool, opts ImportOptions) (ImportAction, string, error) {
	value := StringValue(p.entry.Value)
	if !exists {
		if opts.DryRun {
			return ImportCreated, "v1", nil
		}
		_, err := v.CreateSecret(ctx, CreateSecretInput{Path: p.path, Value: value, Type: p.typ, Tier: p.tier})
		if err == nil {
			return ImportCreated, "v1", nil
		}
		if !errors.Is(err, ErrAlreadyExists) {
			return "", "", err
		}
		// Created concurrently since the listing: treat as existing.
	}
	if !opts.Overwrite {
		return ImportSkipped, "", nil
	}
	same, active, err := v.activeValueEquals(ctx, p.path, value)
	if err != nil {
		return "", "", err
	}
	if same {
		return ImportUnchanged, active, nil
	}
	if opts.DryRun {
		return ImportUpdated, "", nil
	}
	m, err := v.UpdateSecret(ctx, p.path, UpdateSecretInput{Value: &value})
	if err != nil {
		return "", "", err
	}
	return ImportUpdated, m.Version, nil
}

// activeValueEquals compares the active value of path with val, also for an
// expired secret (an import may renew an expired value).
func (v *AgentVault) activeValueEquals(ctx context.Context, path string, val SecretValue) (bool, string, error) {
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return false, "", err
	}
	ver := rec.Find(rec.Active)
	pt, err := v.open(ctx, path, ver)
	if err != nil {
		return false, "", err
	}
	defer clear(pt)
	return string(pt) == string(val.b), FormatVersion(rec.Active), nil
}
