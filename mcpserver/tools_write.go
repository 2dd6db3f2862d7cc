package mcpserver

import (
	"context"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
)

// SetSecretInput is the input of set_secret.
type SetSecretInput struct {
	Path        string            `json:"path" jsonschema:"the secret's path, e.g. staging/stripe/api-key"`
	Value       string            `json:"value" jsonschema:"the new value"`
	Type        string            `json:"type,omitempty" jsonschema:"api_key, oauth_token, db_credential, ssh_key, payment_credential, certificate or custom (default custom; on update, unchanged)"`
	Tier        string            `json:"tier,omitempty" jsonschema:"standard, sensitive or critical (on create the default is the token's tier if standard, else sensitive; on update, unchanged; a tier can be raised, never lowered)"`
	Tags        map[string]string `json:"tags,omitempty" jsonschema:"tags; on update they replace all tags"`
	Description string            `json:"description,omitempty" jsonschema:"a description (on update, replaces it)"`
}

// SetSecretOutput is the result of set_secret.
type SetSecretOutput struct {
	Action string     `json:"action" jsonschema:"created or updated"`
	Secret SecretInfo `json:"secret"`
}

// RotateSecretInput is the input of rotate_secret.
type RotateSecretInput struct {
	Path         string `json:"path" jsonschema:"the secret's path"`
	Value        string `json:"value" jsonschema:"the new value"`
	GraceSeconds int    `json:"grace_seconds,omitempty" jsonschema:"keep the replaced version readable as version previous for this many seconds (default 0)"`
}

// RotateSecretOutput is the result of rotate_secret.
type RotateSecretOutput struct {
	Secret   SecretInfo `json:"secret"`
	Replaced string     `json:"replaced" jsonschema:"the version that was active before"`
}

func (s *server) addWriteTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name: "set_secret",
		Description: "Create a secret, or update it (a new version becomes active; earlier versions are kept). " +
			"The value is stored encrypted and never echoed back.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes, OpenWorldHint: &no},
	}, handler(s, "set_secret", s.setSecret))
	mcp.AddTool(srv, &mcp.Tool{
		Name: "rotate_secret",
		Description: "Rotate a secret to a new value: a new version becomes active, optionally keeping the previous one " +
			"readable for a grace period. The value is never echoed back.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes, OpenWorldHint: &no},
	}, handler(s, "rotate_secret", s.rotateSecret))
}

func (s *server) setSecret(ctx context.Context, in SetSecretInput) (*mcp.CallToolResult, SetSecretOutput, error) {
	var out SetSecretOutput
	what := "write " + pathName(in.Path)
	typ, tier, err := parseTypeTier(in.Type, in.Tier)
	if err != nil {
		return nil, out, s.refuse(err, what)
	}
	p, _ := s.principal()
	// Metadata first: it counts no use, so set_secret is one use either way.
	_, err = p.GetMetadata(ctx, in.Path)
	if errors.Is(err, agentvault.ErrNotFound) {
		sec, cerr := p.CreateSecret(ctx, agentvault.CreateSecretInput{Path: in.Path, Value: agentvault.StringValue(in.Value),
			Type: typ, Tier: tier, Tags: in.Tags, Description: in.Description})
		if cerr == nil {
			return nil, SetSecretOutput{Action: "created", Secret: info(&sec.SecretMetadata)}, nil
		}
		err = cerr
		if errors.Is(cerr, agentvault.ErrAlreadyExists) {
			err = nil // created concurrently: update it
		}
	}
	if err != nil {
		return nil, out, s.refuse(err, what)
	}
	val := agentvault.StringValue(in.Value)
	up := agentvault.UpdateSecretInput{Value: &val, Type: typ, Tier: tier, Tags: in.Tags}
	if in.Description != "" {
		up.Description = &in.Description
	}
	m, err := p.UpdateSecret(ctx, in.Path, up)
	if err != nil {
		return nil, out, s.refuse(err, what)
	}
	return nil, SetSecretOutput{Action: "updated", Secret: info(m)}, nil
}

func parseTypeTier(typ, tier string) (agentvault.SecretType, agentvault.AccessTier, error) {
	var t agentvault.SecretType
	var a agentvault.AccessTier
	var err error
	if typ != "" {
		if t, err = agentvault.ParseSecretType(typ); err != nil {
			return "", "", err
		}
	}
	if tier != "" {
		if a, err = agentvault.ParseAccessTier(tier); err != nil {
			return "", "", err
		}
	}
	return t, a, nil
}

func (s *server) rotateSecret(ctx context.Context, in RotateSecretInput) (*mcp.CallToolResult, RotateSecretOutput, error) {
	var out RotateSecretOutput
	what := "rotate " + pathName(in.Path)
	if in.GraceSeconds < 0 || in.GraceSeconds > 366*24*3600 {
		return nil, out, refusal("Invalid input to %s: grace_seconds must be between 0 and a year; fix it and call again.", what)
	}
	p, _ := s.principal()
	val := agentvault.StringValue(in.Value)
	res, err := p.RotateSecret(ctx, in.Path, agentvault.RotateOptions{Value: &val, GracePeriod: time.Duration(in.GraceSeconds) * time.Second})
	if err != nil {
		return nil, out, s.refuse(err, what)
	}
	return nil, RotateSecretOutput{Secret: info(&res.SecretMetadata), Replaced: res.Replaced}, nil
}
