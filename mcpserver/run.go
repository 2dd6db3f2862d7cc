package mcpserver

import (
	"context"
	"errors"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// RunInput is the input of run_with_secrets.
type RunInput struct {
	Argv           []string          `json:"argv" jsonschema:"the command and its arguments, run without a shell; argv joined by single spaces must match a pattern the operator allowed"`
	Env            map[string]string `json:"env" jsonschema:"environment variables to set from secrets: NAME -> secret path, e.g. {\"DATABASE_URL\": \"production/db/url\"}"`
	TimeoutSeconds int               `json:"timeout_seconds,omitempty" jsonschema:"kill the command after this many seconds (default set by the operator)"`
}

// RunOutput is the result of run_with_secrets: the output with every
// injected value (and its encodings) replaced by [REDACTED:NAME].
type RunOutput struct {
	ExitCode        int    `json:"exit_code" jsonschema:"the command's exit status; -1 if it was killed"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	TimedOut        bool   `json:"timed_out,omitempty"`
	StdoutTruncated bool   `json:"stdout_truncated,omitempty"`
	StderrTruncated bool   `json:"stderr_truncated,omitempty"`
}

func (s *server) addRunTool(srv *mcp.Server) {
	pats := make([]string, len(s.allow))
	for i, p := range s.allow {
		pats[i] = "'" + p.src + "'"
	}
	mcp.AddTool(srv, &mcp.Tool{
		Name: "run_with_secrets",
		Description: "Run one allowed command (no shell) with secrets in its environment only, so their values never enter this " +
			"conversation: returns the exit code and the output with every injected value replaced by [REDACTED:NAME]. " +
			"Allowed commands (argv joined by spaces, * matches anything): " + strings.Join(pats, ", ") + ".",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &yes, OpenWorldHint: &yes},
	}, handler(s, "run_with_secrets", s.runWithSecrets))
}

func (s *server) runWithSecrets(ctx context.Context, in RunInput) (*mcp.CallToolResult, RunOutput, error) {
	var out RunOutput
	if len(in.Argv) == 0 || in.Argv[0] == "" {
		return nil, out, refusal("Invalid input to run_with_secrets: argv is empty; give the command and its arguments.")
	}
	for _, a := range in.Argv {
		if strings.ContainsRune(a, 0) {
			return nil, out, refusal("Invalid input to run_with_secrets: an argument holds a NUL byte.")
		}
	}
	if !s.allowed(in.Argv) {
		return nil, out, refusal("Refused to run that command: it matches no --allow-run pattern of the operator (see this tool's description); ask the operator to allow it.")
	}
	timeout := s.opts.RunTimeout
	if in.TimeoutSeconds < 0 {
		return nil, out, refusal("Invalid input to run_with_secrets: timeout_seconds is negative.")
	}
	if in.TimeoutSeconds > 0 {
		timeout = min(time.Duration(in.TimeoutSeconds)*time.Second, s.opts.MaxRunTimeout)
	}
	names := make([]string, 0, len(in.Env))
	for name := range in.Env {
		if !envNameOK(name) {
			return nil, out, refusal("Refused to run: %q is not an allowed variable name (upper-case letters, digits and _; not PATH, LD_*, BASH_ENV, ASS_* or another loader or shell variable).", trunc(name, 64))
		}
		names = append(names, name)
	}
	sort.Strings(names)
	// Read every secret before starting anything: a refusal runs nothing.
	values := make(map[string]string, len(names))
	p, _ := s.principal()
	for _, name := range names {
		path := in.Env[name]
		sec, err := p.GetSecret(ctx, path)
		if err != nil {
			return nil, out, s.refuse(err, "read "+pathName(path)+" for "+name)
		}
		values[name] = sec.Value.Reveal()
	}
	return nil, s.run(ctx, in.Argv, values, timeout), nil
}

// run starts argv in its own process group, with the secrets in its
// environment only, and kills the group at the timeout.
func (s *server) run(ctx context.Context, argv []string, values map[string]string, timeout time.Duration) RunOutput {
	m := newMasker(values)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = childEnv(s.opts.RunEnv, values)
	killGroupOnCancel(cmd)
	cmd.WaitDelay = time.Second // then stop waiting for pipes held open by grandchildren
	// Keep a margin past the cap so a value straddling it is still masked.
	stdout := &capped{limit: s.opts.OutputLimit + m.max}
	stderr := &capped{limit: s.opts.OutputLimit + m.max}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	out := RunOutput{ExitCode: cmd.ProcessState.ExitCode()}
	if cmd.ProcessState == nil {
		out.ExitCode = 127
		out.Stderr = "could not start the command: " + startError(err)
	}
	if ctx.Err() == context.DeadlineExceeded {
		out.TimedOut, out.ExitCode = true, -1
	}
	var so, se string
	so, out.StdoutTruncated = stdout.result(m, s.opts.OutputLimit)
	se, out.StderrTruncated = stderr.result(m, s.opts.OutputLimit)
	out.Stdout, out.Stderr = so, out.Stderr+se
	return out
}

// startError describes why a command did not start, without its
// environment.
func startError(err error) string {
	var ee *exec.Error
	if errors.As(err, &ee) {
		return ee.Err.Error()
	}
	return "start failed"
}

// childEnv is base without ASS_* variables and without the names being
// set, plus the secrets.
func childEnv(base []string, values map[string]string) []string {
	env := make([]string, 0, len(base)+len(values))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if _, set := values[name]; set || strings.HasPrefix(name, "ASS_") {
			continue
		}
		env = append(env, kv)
	}
	for name, v := range values {
		env = append(env, name+"="+v)
	}
	return env
}

// capped keeps the first limit bytes written and counts the rest.
type capped struct {
	limit   int
	buf     []byte
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.limit - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
		if len(p) > room {
			c.dropped = true
		}
	} else if len(p) > 0 {
		c.dropped = true
	}
	return len(p), nil
}

// result masks what was kept and cuts it at limit bytes of output.
func (c *capped) result(m *masker, limit int) (string, bool) {
	b := m.mask(c.buf, limit)
	return strings.ToValidUTF8(string(b), "\uFFFD"), c.dropped || len(c.buf) > limit
}
