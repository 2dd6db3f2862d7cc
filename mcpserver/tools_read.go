package mcpserver

import (
	"context"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
)

// SecretInfo is a secret's metadata as the tools return it: never a value.
type SecretInfo struct {
	Path        string            `json:"path"`
	Type        string            `json:"type"`
	Tier        string            `json:"tier"`
	Version     string            `json:"version" jsonschema:"the active version, e.g. v3"`
	Tags        map[string]string `json:"tags,omitempty"`
	Description string            `json:"description,omitempty"`
	CreatedBy   string            `json:"created_by,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ExpiresAt   *time.Time        `json:"expires_at,omitempty"`
}

func info(m *agentvault.SecretMetadata) SecretInfo {
	i := SecretInfo{Path: m.Path, Type: string(m.Type), Tier: string(m.Tier), Version: m.Version, Tags: m.Tags,
		Description: m.Description, CreatedBy: m.CreatedBy, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	if !m.ExpiresAt.IsZero() {
		t := m.ExpiresAt
		i.ExpiresAt = &t
	}
	return i
}

var (
	yes = true
	no  = false
)

// readOnly are the annotations of a tool that changes nothing.
var readOnly = &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: &no}

// GetSecretInput is the input of get_secret.
type GetSecretInput struct {
	Path    string `json:"path" jsonschema:"the secret's path, e.g. production/openai/api-key"`
	Version string `json:"version,omitempty" jsonschema:"a version such as v2, or previous during a rotation's grace period; default the active version"`
}

// GetSecretOutput is the result of get_secret. Value is set only when
// Revealed.
type GetSecretOutput struct {
	Secret   SecretInfo `json:"secret"`
	Revealed bool       `json:"revealed" jsonschema:"whether value holds the secret's value"`
	Value    string     `json:"value,omitempty"`
	Message  string     `json:"message,omitempty"`
}

// ListSecretsInput is the input of list_secrets.
type ListSecretsInput struct {
	Prefix string            `json:"prefix,omitempty" jsonschema:"only paths starting with this, e.g. production/"`
	Type   string            `json:"type,omitempty" jsonschema:"only this type: api_key, oauth_token, db_credential, ssh_key, payment_credential, certificate or custom"`
	Tier   string            `json:"tier,omitempty" jsonschema:"only this tier: standard, sensitive or critical"`
	Tags   map[string]string `json:"tags,omitempty" jsonschema:"only secrets with every one of these tags"`
}

// ListSecretsOutput is the result of list_secrets.
type ListSecretsOutput struct {
	Secrets []SecretInfo `json:"secrets"`
}

// ListVersionsInput is the input of list_versions.
type ListVersionsInput struct {
	Path string `json:"path" jsonschema:"the secret's path"`
}

// VersionInfo is one version in list_versions.
type VersionInfo struct {
	Version   string     `json:"version"`
	Active    bool       `json:"active"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	CreatedBy string     `json:"created_by,omitempty"`
	Pruned    bool       `json:"pruned,omitempty"`
}

// ListVersionsOutput is the result of list_versions.
type ListVersionsOutput struct {
	Path     string        `json:"path"`
	Versions []VersionInfo `json:"versions"`
}

func (s *server) addReadTools(srv *mcp.Server) {
	mcp.AddTool(srv, &mcp.Tool{
		Name: "get_secret",
		Description: "Read a secret by path. Returns its metadata, and its value only if its tier is within what the operator " +
			"allows to enter this conversation; otherwise use run_with_secrets to give the value to a command's environment.",
		Annotations: readOnly,
	}, handler(s, "get_secret", s.getSecret))
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "list_secrets",
		Description: "List the metadata (never values) of the secrets this server may read, optionally filtered by path prefix, type, tier and tags.",
		Annotations: readOnly,
	}, handler(s, "list_secrets", s.listSecrets))
	mcp.AddTool(srv, &mcp.Tool{
		Name:        "list_versions",
		Description: "List the versions of a secret (never values): which one is active, when each was written and by whom.",
		Annotations: readOnly,
	}, handler(s, "list_versions", s.listVersions))
}

func (s *server) getSecret(ctx context.Context, in GetSecretInput) (*mcp.CallToolResult, GetSecretOutput, error) {
	var out GetSecretOutput
	p, _ := s.principal()
	what := "read " + pathName(in.Path)
	if s.reveal < agentvault.TierCritical.Rank() {
		// Check the tier first, so a value that may not be revealed is
		// never decrypted and no use is counted for it.
		m, err := p.GetMetadata(ctx, in.Path)
		if err != nil {
			return nil, out, s.refuse(err, what)
		}
		if m.Tier.Rank() > s.reveal {
			return nil, s.withheld(m), nil
		}
	}
	var opts []agentvault.GetOption
	if in.Version != "" {
		opts = append(opts, agentvault.AtVersion(in.Version))
	}
	sec, err := p.GetSecret(ctx, in.Path, opts...)
	if err != nil {
		return nil, out, s.refuse(err, what)
	}
	if sec.Tier.Rank() > s.reveal { // the tier was raised since the check
		return nil, s.withheld(&sec.SecretMetadata), nil
	}
	out.Secret, out.Revealed, out.Value = info(&sec.SecretMetadata), true, sec.Value.Reveal()
	if in.Version != "" {
		out.Secret.Version = sec.Version
	}
	return nil, out, nil
}

func (s *server) withheld(m *agentvault.SecretMetadata) GetSecretOutput {
	msg := "The value is not revealed: this secret is " + string(m.Tier) + " and the operator reveals "
	if s.reveal == 0 {
		msg += "no values"
	} else {
		msg += "values up to " + revealName(s.reveal)
	}
	if len(s.allow) > 0 {
		msg += "; use run_with_secrets to pass it to an allowed command's environment."
	} else {
		msg += "; ask the operator to allow a command for run_with_secrets (ass mcp --allow-run) or to raise --reveal."
	}
	return GetSecretOutput{Secret: info(m), Message: msg}
}

func revealName(rank int) string {
	for _, t := range []agentvault.AccessTier{agentvault.TierStandard, agentvault.TierSensitive, agentvault.TierCritical} {
		if t.Rank() == rank {
			return string(t)
		}
	}
	return "none"
}

func (s *server) listSecrets(ctx context.Context, in ListSecretsInput) (*mcp.CallToolResult, ListSecretsOutput, error) {
	out := ListSecretsOutput{Secrets: []SecretInfo{}}
	p, _ := s.principal()
	f := agentvault.ListFilter{Prefix: in.Prefix, Type: agentvault.SecretType(in.Type), Tier: agentvault.AccessTier(in.Tier), Tags: in.Tags}
	if in.Type != "" {
		if _, err := agentvault.ParseSecretType(in.Type); err != nil {
			return nil, out, s.refuse(err, "list secrets")
		}
	}
	if in.Tier != "" {
		if _, err := agentvault.ParseAccessTier(in.Tier); err != nil {
			return nil, out, s.refuse(err, "list secrets")
		}
	}
	ms, err := p.ListSecrets(ctx, f)
	if err != nil {
		return nil, out, s.refuse(err, "list secrets")
	}
	for i := range ms {
		out.Secrets = append(out.Secrets, info(&ms[i]))
	}
	return nil, out, nil
}

func (s *server) listVersions(ctx context.Context, in ListVersionsInput) (*mcp.CallToolResult, ListVersionsOutput, error) {
	out := ListVersionsOutput{Path: in.Path, Versions: []VersionInfo{}}
	p, _ := s.principal()
	vs, err := p.ListVersions(ctx, in.Path)
	if err != nil {
		return nil, out, s.refuse(err, "list the versions of "+pathName(in.Path))
	}
	for _, v := range vs {
		vi := VersionInfo{Version: v.Version, Active: v.IsActive, CreatedBy: v.CreatedBy, Pruned: v.Pruned}
		if !v.CreatedAt.IsZero() {
			t := v.CreatedAt
			vi.CreatedAt = &t
		}
		out.Versions = append(out.Versions, vi)
	}
	return nil, out, nil
}

// pathName names a path in a sentence: as given when it is a valid path,
// else generically (what was passed may be a value, not a path).
func pathName(p string) string {
	if agentvault.ValidatePath(p) != nil {
		return "that path"
	}
	return p
}
