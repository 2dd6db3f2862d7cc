package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault"
)

// ErrInvalidOptions is returned by New when an option is out of range.
var ErrInvalidOptions = errors.New("mcpserver: invalid options")

// Principal is who the server acts as: a scoped token (Token) or, for a
// local operator, the whole vault (WholeVault). The zero Principal is
// invalid.
type Principal struct {
	token      string
	wholeVault bool
}

// Token makes the server act through the token's Session: every tool call
// is checked against the token's scopes, tier, expiry, IP allowlist and
// max uses, and audited with its accessor.
func Token(raw string) Principal { return Principal{token: raw} }

// WholeVault makes the server act as the vault's key holder, with no
// token: every secret is in reach of the model's tools (within the Reveal
// tier). Use it only for a local operator who could read the vault anyway.
func WholeVault() Principal { return Principal{wholeVault: true} }

// Options configure New. The zero value is valid: values of standard-tier
// secrets are revealed, run_with_secrets is not offered.
type Options struct {
	// Reveal is the highest tier whose values get_secret returns: "none",
	// "standard", "sensitive" or "critical". "" means "standard". Above it,
	// get_secret returns metadata and points to run_with_secrets.
	Reveal string

	// AllowRun lists the commands run_with_secrets may run: each pattern
	// is matched against the argv joined by single spaces, '*' matching any
	// run of characters (also spaces), everything else literally ("psql *",
	// "./migrate.sh"). Empty: run_with_secrets is not offered.
	AllowRun []string

	// RunTimeout is the default timeout of run_with_secrets (default 30s);
	// MaxRunTimeout caps the timeout a call may ask for (default 10m).
	RunTimeout, MaxRunTimeout time.Duration

	// OutputLimit caps each of stdout and stderr of run_with_secrets, in
	// bytes (default 64 KiB); the rest is dropped and reported truncated.
	OutputLimit int

	// RunEnv is the environment run_with_secrets starts from, before the
	// secrets are added (default: none). Variables named ASS_* are always
	// dropped, so the server's own credentials never reach the child.
	RunEnv []string

	// AgentKey, if set, is the agent key ("ast_agent_…") request_approval
	// and check_approval_status act as: the agent's scope ceiling bounds
	// what it may ask for. Without it, those tools act as the Actor with
	// WholeVault and are refused with Token (a token cannot mint tokens).
	AgentKey string

	// Actor names the caller in the audit trail with WholeVault (see
	// agentvault.ContextWithActor); "" uses the vault's default actor.
	Actor string

	// ClientIP, if valid, is the caller's address given to the vault
	// (agentvault.ContextWithClientIP), for tokens with an IP allowlist.
	ClientIP netip.Addr

	// Logger receives one line per tool call (tool, outcome), never a value
	// or a path's secret. Nil: no logging.
	Logger *slog.Logger

	// Version is reported to clients as the server version ("" → "devel").
	Version string
}

// Via is the surface name New's tool calls record in the audit trail
// (agentvault.AuditEvent.Via).
const Via = "mcp"

// ops are the secret operations a principal offers: *agentvault.Session
// and *agentvault.AgentVault both have them.
type ops interface {
	GetSecret(ctx context.Context, path string, opts ...agentvault.GetOption) (*agentvault.Secret, error)
	GetMetadata(ctx context.Context, path string) (*agentvault.SecretMetadata, error)
	ListSecrets(ctx context.Context, f agentvault.ListFilter) ([]agentvault.SecretMetadata, error)
	ListVersions(ctx context.Context, path string) ([]agentvault.VersionInfo, error)
	CreateSecret(ctx context.Context, in agentvault.CreateSecretInput) (*agentvault.Secret, error)
	UpdateSecret(ctx context.Context, path string, in agentvault.UpdateSecretInput) (*agentvault.SecretMetadata, error)
	RotateSecret(ctx context.Context, path string, opts agentvault.RotateOptions) (*agentvault.RotationResult, error)
}

var (
	_ ops = (*agentvault.Session)(nil)
	_ ops = (*agentvault.AgentVault)(nil)
)

// server is the state behind one *mcp.Server: the vault, the current
// principal (replaced when an approval is redeemed) and the options.
type server struct {
	v          *agentvault.AgentVault
	opts       Options
	reveal     int  // highest revealed tier rank; 0: none
	wholeVault bool // started as WholeVault: token requests are the operator's
	allow      []pattern

	mu       sync.RWMutex
	p        ops
	accessor string // "" with WholeVault
}

// New returns an MCP server whose tools act on v as p. Mount it on any
// transport (mcp.StdioTransport, the in-memory transports, HTTPHandler).
// The server is safe for concurrent use by several sessions; they share
// the principal, so a token redeemed by check_approval_status applies to
// all of them.
func New(v *agentvault.AgentVault, p Principal, opts *Options) (*mcp.Server, error) {
	if v == nil {
		return nil, fmt.Errorf("%w: nil vault", ErrInvalidOptions)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &server{v: v, opts: o}
	switch {
	case p.wholeVault && p.token == "":
		s.p, s.wholeVault = v, true
	case !p.wholeVault && p.token != "":
		sess := v.Session(p.token)
		s.p, s.accessor = sess, sess.Accessor()
	default:
		return nil, fmt.Errorf("%w: principal must be Token(non-empty) or WholeVault()", ErrInvalidOptions)
	}
	r, err := ParseReveal(o.Reveal)
	if err != nil {
		return nil, err
	}
	s.reveal = r
	if s.opts.RunTimeout == 0 {
		s.opts.RunTimeout = 30 * time.Second
	}
	if s.opts.MaxRunTimeout == 0 {
		s.opts.MaxRunTimeout = 10 * time.Minute
	}
	if s.opts.OutputLimit == 0 {
		s.opts.OutputLimit = 64 << 10
	}
	if s.opts.RunTimeout < 0 || s.opts.MaxRunTimeout < s.opts.RunTimeout || s.opts.OutputLimit < 0 {
		return nil, fmt.Errorf("%w: RunTimeout, MaxRunTimeout or OutputLimit out of range", ErrInvalidOptions)
	}
	for _, a := range o.AllowRun {
		pat, err := parsePattern(a)
		if err != nil {
			return nil, err
		}
		s.allow = append(s.allow, pat)
	}
	version := o.Version
	if version == "" {
		version = "devel"
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "agentvault", Title: "agentvault secrets", Version: version},
		&mcp.ServerOptions{Instructions: s.instructions(), Capabilities: &mcp.ServerCapabilities{}})
	s.addReadTools(srv)
	s.addWriteTools(srv)
	s.addApprovalTools(srv)
	if len(s.allow) > 0 {
		s.addRunTool(srv)
	}
	return srv, nil
}

// ParseReveal parses a --reveal value: "none" (0), "standard" (1),
// "sensitive" (2) or "critical" (3); "" is "standard".
func ParseReveal(s string) (int, error) {
	switch s {
	case "none":
		return 0, nil
	case "", "standard":
		return agentvault.TierStandard.Rank(), nil
	case "sensitive":
		return agentvault.TierSensitive.Rank(), nil
	case "critical":
		return agentvault.TierCritical.Rank(), nil
	}
	return 0, fmt.Errorf("%w: reveal %q is not none, standard, sensitive or critical", ErrInvalidOptions, trunc(s, 32))
}

func (s *server) instructions() string {
	return "Secrets from an agentvault vault. Values of secrets above the operator's reveal tier are never returned: " +
		"use run_with_secrets (when offered) to give them to an allowed command's environment instead. " +
		"A refusal says what to do next; request_approval asks a human for wider access."
}

// principal returns the current principal and its accessor.
func (s *server) principal() (ops, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.p, s.accessor
}

// switchTo makes the server act through a new token from now on.
func (s *server) switchTo(tok *agentvault.Token) {
	sess := s.v.Session(tok.Value.Reveal())
	s.mu.Lock()
	s.p, s.accessor = sess, sess.Accessor()
	s.mu.Unlock()
}

// callCtx is the context of a tool's vault calls: marked as coming
// through MCP, with the operator's actor, agent key and client IP.
func (s *server) callCtx(ctx context.Context) context.Context {
	ctx = agentvault.ContextWithVia(ctx, Via)
	if s.opts.Actor != "" {
		ctx = agentvault.ContextWithActor(ctx, s.opts.Actor)
	}
	if s.opts.ClientIP.IsValid() {
		ctx = agentvault.ContextWithClientIP(ctx, s.opts.ClientIP)
	}
	return ctx
}

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
