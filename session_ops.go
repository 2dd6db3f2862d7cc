package agentvault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// More Session operations: the rest of what a person can do to a secret,
// under the same checks as the others (token state, IP, scope, tier, uses)
// and audited with the token as actor. A tool that acts either as the
// vault or through a token (the ass command) can then hold one value with
// these methods and never reach past the token.

// GetMetadata returns the metadata of the secret at path, like
// AgentVault.GetMetadata, if any scope of the token (read, write or
// delete, within its agent's current ceiling) covers path and the
// secret's tier is within the token's. It decrypts nothing and does not
// count as a use. Audited as secret.metadata_read.
func (s *Session) GetMetadata(ctx context.Context, path string) (*SecretMetadata, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("metadata", "", "", err)
	}
	defer s.v.leave()
	m, err := s.getMetadata(ctx, path)
	if err := s.finish(ctx, "metadata", EventSecretMetadataRead, path, m, err); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Session) getMetadata(ctx context.Context, path string) (*SecretMetadata, error) {
	tok, scopes, err := s.check(ctx, "", "")
	if err != nil {
		return nil, err
	}
	if err := ValidatePath(path); err != nil {
		return nil, err
	}
	covered := false
	for _, a := range []ScopeAction{ActionRead, ActionWrite, ActionDelete} {
		covered = covered || (allowedBy(scopes, a, path) && tok.ceilingAllows(a, path))
	}
	if !covered {
		return nil, fmt.Errorf("%w: no scope of token %s covers %s", ErrScopeDenied, tok.Accessor, path)
	}
	rec, _, err := s.v.load(ctx, path)
	if err != nil {
		return nil, err
	}
	m := metadata(rec, rec.Active)
	if err := tierAllowed(tok, m.Tier); err != nil {
		return nil, err
	}
	return &m, nil
}

// ListVersions lists the versions of the secret at path, like
// AgentVault.ListVersions, if a read scope covers path and the secret's
// tier is within the token's. Audited as secret.listed.
func (s *Session) ListVersions(ctx context.Context, path string) ([]VersionInfo, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("versions", "", "", err)
	}
	defer s.v.leave()
	vs, err := s.listVersions(ctx, path)
	if err := s.finish(ctx, "versions", EventSecretListed, path, nil, err); err != nil {
		return nil, err
	}
	return vs, nil
}

func (s *Session) listVersions(ctx context.Context, path string) ([]VersionInfo, error) {
	if err := s.authorize(ctx, ActionRead, path); err != nil {
		return nil, err
	}
	return s.v.ListVersions(s.innerCtx(ctx), path)
}

// Rollback makes an earlier version active, like AgentVault.Rollback, if a
// write scope covers path and the secret's tier is within the token's.
// Audited as secret.rolled_back.
func (s *Session) Rollback(ctx context.Context, path, version string) (*SecretMetadata, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("rollback", "", "", err)
	}
	defer s.v.leave()
	m, err := s.rollback(ctx, path, version)
	if err := s.finish(ctx, "rollback", EventSecretRolledBack, path, m, err); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Session) rollback(ctx context.Context, path, version string) (*SecretMetadata, error) {
	if err := s.authorize(ctx, ActionWrite, path); err != nil {
		return nil, err
	}
	return s.v.Rollback(s.innerCtx(ctx), path, version)
}

// RotateSecret rotates the secret at path, like AgentVault.RotateSecret,
// if a write scope covers path and the secret's tier is within the
// token's. Audited as secret.rotated.
func (s *Session) RotateSecret(ctx context.Context, path string, opts RotateOptions) (*RotationResult, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("rotate", "", "", err)
	}
	defer s.v.leave()
	res, err := s.rotateSecret(ctx, path, opts)
	var m *SecretMetadata
	if res != nil {
		m = &res.SecretMetadata
	}
	if err := s.finish(ctx, "rotate", EventSecretRotated, path, m, err); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *Session) rotateSecret(ctx context.Context, path string, opts RotateOptions) (*RotationResult, error) {
	if err := s.authorize(ctx, ActionWrite, path); err != nil {
		return nil, err
	}
	return s.v.RotateSecret(s.innerCtx(ctx), path, opts)
}

// ImportEnv imports a .env file, like AgentVault.ImportEnv, if a write
// scope of the token covers the path of every variable, the tier of every
// secret it would create is within the token's, and (with Overwrite) so is
// the tier of every existing secret it may update. Everything is checked
// before anything is written; the import counts as one use. Each secret it
// writes is audited as the vault's ImportEnv audits it, with the token as
// actor; a refusal is audited as token.denied (or secret.imported, failed).
func (s *Session) ImportEnv(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportResult, error) {
	if err := s.v.enter(); err != nil {
		return nil, opErr("import", "", "", err)
	}
	defer s.v.leave()
	res, imported, err := s.importEnv(ctx, r, opts)
	if imported {
		return res, err // audited, and wrapped, by AgentVault.ImportEnv
	}
	if err != nil {
		return nil, s.finish(ctx, "import", EventSecretImported, opts.Namespace, nil, err)
	}
	return res, nil
}

// importEnv checks the import and runs it; imported reports whether
// AgentVault.ImportEnv ran (and audited the outcome).
func (s *Session) importEnv(ctx context.Context, r io.Reader, opts ImportOptions) (_ *ImportResult, imported bool, _ error) {
	tok, scopes, err := s.check(ctx, "", "")
	if err != nil {
		return nil, false, err
	}
	// Read the input once: plan it to check it, then import the same bytes.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, false, fmt.Errorf("read import input: %w", err)
	}
	defer clear(data)
	if opts.Tier == "" && tok.Tier == TierStandard {
		opts.Tier = TierStandard // as Session.CreateSecret
	}
	plan, _, err := s.v.planImport(bytes.NewReader(data), opts)
	if err != nil {
		return nil, false, err
	}
	for _, p := range plan {
		if !allowedBy(scopes, ActionWrite, p.path) {
			return nil, false, fmt.Errorf("%w: no scope of token %s allows write on %s", ErrScopeDenied, tok.Accessor, p.path)
		}
		if !tok.ceilingAllows(ActionWrite, p.path) {
			return nil, false, fmt.Errorf("%w: the current ceiling of agent %s does not allow write on %s", ErrScopeDenied, tok.IssuedTo.ID, p.path)
		}
		if err := tierAllowed(tok, p.tier); err != nil {
			return nil, false, err
		}
		if !opts.Overwrite {
			continue
		}
		if err := s.secretTier(ctx, tok, p.path); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, false, err
		}
	}
	if !opts.DryRun {
		if err := s.use(ctx, tok); err != nil {
			return nil, false, err
		}
	}
	res, err := s.v.ImportEnv(s.actingCtx(ctx), bytes.NewReader(data), opts)
	return res, true, err
}

// actingCtx is the context of a vault call that writes its own audit
// events, recording the token as their actor (and as created_by).
func (s *Session) actingCtx(ctx context.Context) context.Context {
	ctx = ContextWithActor(ctx, "token:"+s.accessor)
	return context.WithValue(ctx, tokenActorKey{}, s.accessor)
}

// tokenActorKey carries the accessor of the Session a vault call is made
// for (see Session.actingCtx); its events name the token as actor.
type tokenActorKey struct{}

// tokenActor returns the accessor set by Session.actingCtx, if any.
func tokenActor(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(tokenActorKey{}).(string)
	return a, ok && a != ""
}

// Now returns the vault's current time (its clock, see WithClock), as
// AgentVault.Now.
func (s *Session) Now() time.Time { return s.v.Now() }
