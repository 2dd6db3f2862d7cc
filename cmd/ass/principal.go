package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/agentvault/agentvault"
)

// principal is who a secret command acts as: the vault itself (whoever
// holds its key) or, when a token is given, the token's Session, which
// checks its scopes, tier, uses and IP on every call and audits it as the
// token. Secret commands reach secrets only through session.p, so none can
// act with the vault's full rights while a token is set; every other
// command is refused then (see cli.admit).
type principal interface {
	GetSecret(ctx context.Context, path string, opts ...agentvault.GetOption) (*agentvault.Secret, error)
	GetMetadata(ctx context.Context, path string) (*agentvault.SecretMetadata, error)
	ListSecrets(ctx context.Context, f agentvault.ListFilter) ([]agentvault.SecretMetadata, error)
	CreateSecret(ctx context.Context, in agentvault.CreateSecretInput) (*agentvault.Secret, error)
	UpdateSecret(ctx context.Context, path string, in agentvault.UpdateSecretInput) (*agentvault.SecretMetadata, error)
	DeleteSecret(ctx context.Context, path string) error
	RotateSecret(ctx context.Context, path string, opts agentvault.RotateOptions) (*agentvault.RotationResult, error)
	Rollback(ctx context.Context, path, version string) (*agentvault.SecretMetadata, error)
	ListVersions(ctx context.Context, path string) ([]agentvault.VersionInfo, error)
	ImportEnv(ctx context.Context, r io.Reader, opts agentvault.ImportOptions) (*agentvault.ImportResult, error)
	Now() time.Time
}

var (
	_ principal = (*agentvault.AgentVault)(nil)
	_ principal = (*agentvault.Session)(nil)
)

// credentials are the bearer credentials of this run: a token (--token or
// ASS_TOKEN) and an agent key (ASS_AGENT_KEY), and where each came from.
type credentials struct {
	token, tokenFrom string
	agentKey         string
}

// lookup returns an environment variable and whether it is set, even to "".
func (c *cli) lookup(name string) (string, bool) {
	if c.lookupEnv != nil {
		return c.lookupEnv(name)
	}
	v := c.getenv(name)
	return v, v != ""
}

// readCredentials resolves --token, ASS_TOKEN and ASS_AGENT_KEY. One that
// is given but empty is a usage error: an empty token must never mean "no
// token", which would be the vault's full rights (TOKEN=$(ass token
// request …) is empty when the request waits for approval).
func (c *cli) readCredentials() error {
	if c.set["token"] {
		if c.g.token == "" {
			return usagef("--token is empty (a token request that waits for approval prints no token); nothing was read")
		}
		c.cred.token, c.cred.tokenFrom = c.g.token, "--token"
	} else if v, ok := c.lookup("ASS_TOKEN"); ok {
		if v == "" {
			return usagef("ASS_TOKEN is set but empty (a token request that waits for approval prints no token): unset it to act as the vault's key holder; nothing was read")
		}
		c.cred.token, c.cred.tokenFrom = v, "ASS_TOKEN"
	}
	if v, ok := c.lookup("ASS_AGENT_KEY"); ok {
		if v == "" {
			return usagef("ASS_AGENT_KEY is set but empty: unset it to act as the vault's key holder; nothing was read")
		}
		c.cred.agentKey = v
	}
	if c.g.clientIP.ip.IsValid() {
		c.ctx = agentvault.ContextWithClientIP(c.ctx, c.g.clientIP.ip)
	}
	return nil
}

// refusedError is a command that the credentials given may not run: exit 6.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

// admit refuses a command that the credentials may not run: with a token,
// every command but the secret commands (which act through the token) and
// help; with an agent key (and no token), every command but the agent's
// own (token request and redeem, approvals approve, deny and cancel, where
// the library applies the agent's rules).
func (c *cli) admit(cmd *command, args []string) error {
	name := cmd.name
	if len(args) > 0 && (cmd.name == "token" || cmd.name == "approvals" || cmd.name == "agents" || cmd.name == "key" || cmd.name == "lifecycle") {
		name += " " + truncate(args[0], 32)
	}
	switch {
	case c.cred.token != "":
		if cmd.withToken {
			return nil
		}
		drop := "unset ASS_TOKEN"
		if c.cred.tokenFrom == "--token" {
			drop = "drop --token"
		}
		return &refusedError{msg: fmt.Sprintf("ass %s cannot run with a token (%s is set): a token only reads and writes secrets within its scopes (%s); %s to act as the vault's key holder",
			name, c.cred.tokenFrom, tokenCommands(), drop)}
	case c.cred.agentKey != "":
		if cmd.withAgentKey != nil && cmd.withAgentKey(args) {
			return nil
		}
		return &refusedError{msg: fmt.Sprintf(`ass %s cannot run with ASS_AGENT_KEY set: an agent requests a token ("ass token request") and acts through it (ASS_TOKEN); unset ASS_AGENT_KEY to act as the vault's key holder`, name)}
	}
	return nil
}

// tokenCommands lists the commands that run through a token.
func tokenCommands() string {
	var names []string
	for _, cmd := range commands {
		if cmd.withToken && cmd.name != "help" {
			names = append(names, cmd.name)
		}
	}
	return strings.Join(names, " ")
}

// principalFor returns what secret commands act as: the token's Session
// when a token is given, else the vault.
func (s *session) principalFor(c *cli) principal {
	if c.cred.token != "" {
		return s.vault.Session(c.cred.token)
	}
	return s.vault
}
