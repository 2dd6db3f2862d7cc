package agentvault

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/kms"
)

// ErrNoVault is returned by Open when the backend holds no vault.
var ErrNoVault = errors.New("agentvault: no vault in this backend")

// Open is New for a vault that must already exist: when the backend holds
// no vault configuration it fails with ErrNoVault and writes nothing.
// Tools that should never create a vault by accident (a CLI pointed at the
// wrong directory) use Open; New creates the vault on first use.
func Open(b backend.Backend, k kms.KeyProvider, opts ...Option) (*AgentVault, error) {
	if b == nil || k == nil {
		return nil, errors.New("agentvault: open: backend and key provider are required")
	}
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.initTimeout)
	defer cancel()
	if _, _, err := (storage{b}).Get(ctx, configKey); err != nil {
		if errors.Is(err, backend.ErrNotFound) {
			return nil, &Error{Op: "open", Err: ErrNoVault}
		}
		return nil, &Error{Op: "open", Err: fmt.Errorf("read vault configuration: %w", err)}
	}
	return New(b, k, opts...)
}

// GetMetadata returns the metadata of the secret at path (its active
// version), without decrypting anything. Unlike GetSecret it also answers
// for an expired secret. Audited as secret.metadata_read.
func (v *AgentVault) GetMetadata(ctx context.Context, path string) (meta *SecretMetadata, rerr error) {
	const op = "metadata"
	if err := v.enter(); err != nil {
		return nil, opErr(op, "", "", err)
	}
	defer v.leave()
	defer v.auditMeta(ctx, EventSecretMetadataRead, path, &meta, &rerr)
	if err := v.check(path); err != nil {
		return nil, opErr(op, safePath(path, err), "", err)
	}
	rec, _, err := v.load(ctx, path)
	if err != nil {
		return nil, opErr(op, path, "", err)
	}
	m := metadata(rec, rec.Active)
	return &m, nil
}

// MaxValueSize returns the largest value this vault accepts, in bytes (see WithMaxValueSize).
func (v *AgentVault) MaxValueSize() int { return v.opts.maxValueSize }

// Now returns the vault's current time (its clock, see WithClock).
func (v *AgentVault) Now() time.Time { return v.opts.now() }
