package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/agentvault/agentvault/mcpserver"
)

var mcpCommand = &command{
	name:    "mcp",
	summary: "serve the vault to AI agents over the Model Context Protocol",
	details: `Serves the vault to an MCP client (Claude Desktop, Cursor, Claude Code, …)
on stdin/stdout. The server acts as one principal: the token in ASS_TOKEN
(every tool call is checked against its scopes, tier, expiry and max uses,
and audited with its accessor and via "mcp"), or, with --operator, the whole
vault (a warning is printed: every secret is then in the model's reach).

Tools: get_secret, list_secrets, list_versions, set_secret, rotate_secret,
request_approval, check_approval_status, and run_with_secrets when
--allow-run is given. Secret values enter the model's context only for
tiers up to --reveal (default standard); above it get_secret returns
metadata and points to run_with_secrets. request_approval and
check_approval_status act as the agent of ASS_AGENT_KEY (or, with
--operator, as --actor); with a token alone they are refused.

run_with_secrets runs a command only if its argv, joined by single spaces,
matches an --allow-run pattern ('*' matches anything, e.g. 'psql *'), with
no shell, a timeout and an output cap. The command gets PATH, HOME, USER,
LOGNAME, LANG, LC_*, TZ and TMPDIR from ass's environment plus the secrets
it names; its output comes back with each value, and its base64, base64url,
hex and URL-encoded forms, replaced by [REDACTED:NAME]. An allowed command
can still leak a value on purpose (printing it reversed, sending it over the
network): the allowlist is the control, masking a second line.

With --http 127.0.0.1:PORT the server speaks streamable HTTP instead, on a
loopback address only; clients must send "Authorization: Bearer $ASS_TOKEN".

Examples:
  ASS_TOKEN=ast_tok_… ass mcp
  ASS_TOKEN=ast_tok_… ass mcp --reveal none --allow-run 'psql *'
  claude mcp add agentvault -- ass mcp`,
	withToken:    true,
	withAgentKey: func([]string) bool { return true }, // then --operator or ASS_TOKEN is still required
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		reveal := fs.String("reveal", "standard", "highest `TIER` whose values get_secret returns: none, standard, sensitive or critical")
		var allow allowRunFlag
		fs.Var(&allow, "allow-run", "let run_with_secrets run commands matching `PATTERN` ('*' matches anything; repeatable)")
		operator := fs.Bool("operator", false, "act as the whole vault, without a token (local use only)")
		httpAddr := fs.String("http", "", "serve streamable HTTP on `127.0.0.1:PORT` instead of stdio (bearer: ASS_TOKEN)")
		return func(c *cli, _ []string) error {
			return c.serveMCP(*reveal, allow, *operator, *httpAddr)
		}
	},
}

// allowRunFlag collects --allow-run patterns.
type allowRunFlag []string

func (f *allowRunFlag) String() string { return strings.Join(*f, ", ") }

func (f *allowRunFlag) Set(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty pattern")
	}
	*f = append(*f, s)
	return nil
}

func (c *cli) serveMCP(reveal string, allow []string, operator bool, httpAddr string) error {
	switch {
	case c.cred.token == "" && !operator:
		return usagef("ASS_TOKEN is not set: the server acts as a token (ass token request …); give --operator to serve the whole vault instead")
	case c.cred.token != "" && operator:
		return usagef("--operator serves the whole vault: unset %s, or drop --operator to act as the token", c.cred.tokenFrom)
	case httpAddr != "" && operator:
		return usagef("--http needs a token (ASS_TOKEN): it is the bearer HTTP clients must present")
	}
	if _, err := mcpserver.ParseReveal(reveal); err != nil {
		return usagef("--reveal %q: want none, standard, sensitive or critical", truncate(reveal, 32))
	}
	if httpAddr != "" {
		if err := mcpserver.CheckLoopback(httpAddr); err != nil {
			return usagef("%s", strings.TrimPrefix(err.Error(), "mcpserver: invalid options: "))
		}
	}
	s, err := c.open()
	if err != nil {
		return err
	}
	defer s.Close()
	p := mcpserver.Token(c.cred.token)
	if operator {
		p = mcpserver.WholeVault()
		fmt.Fprintln(c.stderr, "ass: warning: --operator: the MCP server acts as the whole vault, with no token; every secret is within the model's reach (values up to --reveal "+reveal+")")
	}
	srv, err := mcpserver.New(s.vault, p, &mcpserver.Options{
		Reveal: reveal, AllowRun: allow, AgentKey: c.cred.agentKey, Actor: c.cfg.actor,
		ClientIP: c.g.clientIP.ip, RunEnv: runBaseEnv(os.Environ()), Version: versionString(),
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if httpAddr != "" {
		return c.serveMCPHTTP(ctx, srv, httpAddr)
	}
	err = srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(c.stdin), Writer: nopWriteCloser{c.stdout}})
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("mcp: %w", err)
}

func (c *cli) serveMCPHTTP(ctx context.Context, srv *mcp.Server, addr string) error {
	h, err := mcpserver.HTTPHandler(srv, c.cred.token)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mcp: listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(c.stderr, "ass: serving MCP on http://%s/ (loopback only; clients send Authorization: Bearer $%s)\n", ln.Addr(), c.cred.tokenFrom)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mcp: %w", err)
	}
	return nil
}

// runBaseEnv is what run_with_secrets' commands inherit from ass's
// environment: enough to find programs and format output, never ass's
// credentials or key variables.
func runBaseEnv(environ []string) []string {
	keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "LANG": true, "TZ": true, "TMPDIR": true}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if keep[name] || strings.HasPrefix(name, "LC_") {
			out = append(out, kv)
		}
	}
	return out
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
