// Command ass keeps secrets in an agentvault vault from the command line.
//
// Run "ass help" for the commands, flags, environment variables and exit
// codes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/redis/go-redis/v9"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/term"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/envfile"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1 // any failure not listed below
	exitUsage    = 2 // unknown command or flag, wrong arguments, bad flag value, path or input
	exitNotFound = 3 // no such secret or version
	exitExpired  = 4 // the secret has expired
	exitApproval = 5 // approval required or pending: the token request waits for approvers
	exitDenied   = 6 // access denied: token, agent key, scope, tier, IP or approval rules
)

func main() {
	// go-redis logs dial failures on its own; ass reports errors itself, on one line.
	redis.SetLogger(quietLogger{})
	// A reader that goes away ("ass list | head -1") makes writes fail with
	// EPIPE instead of killing ass with SIGPIPE (exit 141); run then exits
	// 0 quietly. Notify, not Ignore: an ignored signal would stay ignored
	// in the command ass run starts.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// No signal handling: an interrupted ass leaves nothing half-written
	// (the library writes atomically), and locks die with the process.
	c := &cli{
		ctx:       context.Background(),
		getenv:    os.Getenv,
		lookupEnv: os.LookupEnv,
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stdinFD:   int(os.Stdin.Fd()),
		stdinTTY:  term.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: term.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: term.IsTerminal(int(os.Stderr.Fd())),
	}
	os.Exit(c.run(os.Args[1:]))
}

// cli is one invocation of ass: its environment and, once parsed, its flags.
type cli struct {
	ctx       context.Context
	getenv    func(string) string
	lookupEnv func(string) (string, bool) // nil: a variable set to "" counts as unset
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	stdinFD   int
	echoOff   func(fd int) (restore func(), err error) // nil: the system's (a test seam)
	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool

	g globals
	// jsonErrors: --json is on the command line, so an error goes to
	// stderr as JSON, even one found while parsing the flags.
	jsonErrors bool
	set        map[string]bool // flags given on the command line
	cfg        *config
	cred       credentials // --token, ASS_TOKEN, ASS_AGENT_KEY
}

// command is one subcommand.
type command struct {
	name    string
	args    string // the positional arguments, for usage lines
	summary string
	details string
	minArgs int
	maxArgs int
	// secretArgs: an argument may be a secret value, so messages never echo
	// arguments.
	secretArgs bool
	// passThrough: the arguments are everything after a required "--",
	// passed uninterpreted (ass run's command line); no positional
	// arguments may come before it.
	passThrough bool
	// withToken: the command may run while a token is given, and then
	// reaches secrets only through the token (session.p). Every other
	// command is refused with a token (exit 6).
	withToken bool
	// withAgentKey reports whether the command, with these arguments, may
	// run while ASS_AGENT_KEY is set (and no token): as the agent.
	withAgentKey func(args []string) bool
	// define registers the command's flags on fs and returns its body,
	// which reads the flags once they are parsed.
	define func(fs *flag.FlagSet) func(c *cli, args []string) error
}

// commands lists the subcommands in help order. It is filled in init to
// break the reference cycle through the help command.
var commands []*command

func init() {
	commands = []*command{
		initCommand, setCommand, createCommand, getCommand, updateCommand,
		listCommand, versionsCommand, rollbackCommand, deleteCommand,
		expiringCommand, rotateCommand, lifecycleCommand,
		importCommand, exportCommand, runCommand, mcpCommand,
		tokenCommand, approvalsCommand, approversCommand, agentsCommand, auditCommand,
		rewrapCommand, keyCommand, doctorCommand, completionCommand,
		versionCommand, helpCommand,
	}
}

func lookupCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake on the command line: exit code 2 and a pointer
// to the help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// inputError is input that breaks a rule or limit (a value read from
// stdin, a .env entry): exit code 2 like a bad argument, without the
// pointer to the help.
type inputError struct{ error }

func (e inputError) Unwrap() error { return e.error }

// versioned marks an error whose message should name the version involved
// (one the user asked for: get --version, rollback).
type versioned struct{ error }

func (v versioned) Unwrap() error { return v.error }

// run executes one command line and returns the exit code.
func (c *cli) run(args []string) int {
	if len(args) > 0 && args[0] == completeCommand {
		return c.runComplete(args[1:])
	}
	c.jsonErrors = wantsJSON(args)
	i := findCommand(args)
	if i < 0 {
		switch {
		case hasFlag(args, "version"):
			fmt.Fprintf(c.stdout, "ass %s\n", versionString())
			return exitOK
		case wantsHelp(args):
			fmt.Fprint(c.stdout, mainUsage())
			return exitOK
		case len(args) == 0:
			fmt.Fprint(c.stdout, shortUsage())
			return exitOK
		}
		return c.fail(nil, usagef("no command given"))
	}
	if hasFlag(args[:i], "version") {
		fmt.Fprintf(c.stdout, "ass %s\n", versionString())
		return exitOK
	}
	cmd := lookupCommand(args[i])
	if cmd == nil {
		return c.fail(nil, usagef("unknown command %q", truncate(args[i], 32)))
	}
	rest := append(append([]string{}, args[:i]...), args[i+1:]...)
	if wantsHelp(rest) {
		fmt.Fprint(c.stdout, commandUsage(cmd))
		return exitOK
	}

	fs := newFlagSet(cmd.name)
	addGlobals(fs, &c.g)
	body := cmd.define(fs)
	var after []string
	if cmd.passThrough {
		i := slices.Index(rest, "--")
		if i < 0 {
			return c.fail(cmd, usagef(`missing "--" before the command: want %s`, argsSynopsis(cmd)))
		}
		rest, after = rest[:i], rest[i+1:]
	}
	pos, err := parseArgs(fs, rest, cmd.secretArgs, cmd.maxArgs)
	if err != nil {
		return c.fail(cmd, &usageError{msg: err.Error()})
	}
	if cmd.passThrough {
		if len(pos) > 0 {
			return c.fail(cmd, usagef(`unexpected argument before "--": want %s`, argsSynopsis(cmd)))
		}
		pos = after
	}
	if len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs {
		return c.fail(cmd, usagef("wrong number of arguments: want %s", argsSynopsis(cmd)))
	}
	c.set = setFlags(fs)
	if err := c.readCredentials(); err != nil {
		return c.fail(cmd, err)
	}
	if err := c.admit(cmd, pos); err != nil {
		return c.fail(cmd, err)
	}
	if err := body(c, pos); err != nil {
		var st *exitStatus
		if errors.As(err, &st) && st.err == nil {
			return st.code // ass run: the child's status, nothing printed
		}
		if errors.Is(err, syscall.EPIPE) {
			return exitOK // the reader of our output went away: nothing to say
		}
		return c.fail(cmd, err)
	}
	return exitOK
}

// findCommand returns the index of the command name in args: the first
// argument that is neither a flag nor the value of a global flag.
func findCommand(args []string) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return -1 // "ass -- cmd" is not supported: flags end after the command
		}
		if len(a) < 2 || a[0] != '-' {
			return i
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && globalValueFlags[name] {
			i++ // skip the flag's value
		}
	}
	return -1
}

// hasFlag reports whether args hold -name or --name.
func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name {
			return true
		}
	}
	return false
}

// wantsJSON reports whether args hold --json (or -json, --json=true)
// before any "--".
func wantsJSON(args []string) bool {
	on := false
	for _, a := range args {
		switch a {
		case "--":
			return on
		case "-json", "--json", "-json=true", "--json=true":
			on = true
		case "-json=false", "--json=false":
			on = false
		}
	}
	return on
}

// exitNames name the exit codes in JSON errors.
var exitNames = map[int]string{
	exitError: "error", exitUsage: "usage", exitNotFound: "not_found", exitExpired: "expired",
	exitApproval: "approval_required", exitDenied: "denied", exitDamaged: "damaged",
}

// errorJSON is an error under --json, on stderr:
// {"error":{"code":"not_found","exit_code":3,"message":"get a/b: secret not found"}}.
type errorJSON struct {
	Error struct {
		Code     string `json:"code"`
		ExitCode int    `json:"exit_code"`
		Message  string `json:"message"`
	} `json:"error"`
}

// fail prints err as one line on stderr (a JSON object under --json) and
// returns its exit code.
func (c *cli) fail(cmd *command, err error) int {
	msg := describe(err)
	var ue *usageError
	if errors.As(err, &ue) {
		if cmd != nil {
			msg = cmd.name + ": " + msg + fmt.Sprintf(` (see "ass help %s")`, cmd.name)
		} else {
			msg += ` (see "ass help")`
		}
	}
	code := exitCode(err)
	if code == exitDenied {
		msg = "access denied: " + msg
	}
	if c.jsonErrors {
		var out errorJSON
		out.Error.Code, out.Error.ExitCode, out.Error.Message = firstOf(exitNames[code], "error"), code, oneLine(msg)
		b, _ := json.Marshal(out)
		fmt.Fprintf(c.stderr, "%s\n", b)
		return code
	}
	fmt.Fprintf(c.stderr, "ass: %s\n", oneLine(msg))
	return code
}

func exitCode(err error) int {
	var ue *usageError
	var st *exitStatus
	var re *refusedError
	var de *damagedError
	switch {
	case errors.As(err, &ue),
		// A path, version, value, TTL or description the library refuses
		// is a bad argument or flag value like any other.
		errors.Is(err, agentvault.ErrInvalidPath),
		errors.Is(err, agentvault.ErrInvalidInput),
		errors.Is(err, envfile.ErrSyntax), errors.Is(err, envfile.ErrTooLarge),
		errors.As(err, new(inputError)):
		return exitUsage
	case errors.As(err, &de):
		return exitDamaged
	case errors.As(err, &re):
		return exitDenied
	case errors.As(err, &st):
		return st.code
	case errors.Is(err, agentvault.ErrExpired):
		return exitExpired
	case errors.Is(err, agentvault.ErrNotFound):
		return exitNotFound
	case errors.Is(err, agentvault.ErrApprovalRequired), errors.Is(err, agentvault.ErrApprovalPending):
		return exitApproval
	case errors.Is(err, agentvault.ErrScopeDenied), // ErrTierDenied too
		errors.Is(err, agentvault.ErrIPDenied),
		errors.Is(err, agentvault.ErrTokenExpired),
		errors.Is(err, agentvault.ErrTokenExhausted),
		errors.Is(err, agentvault.ErrTokenRevoked),
		errors.Is(err, agentvault.ErrTokenUnknown),
		errors.Is(err, agentvault.ErrUnauthorized),
		errors.Is(err, agentvault.ErrApprovalForbidden):
		return exitDenied
	}
	return exitError
}

// describe renders an error for stderr. A library *agentvault.Error
// becomes "get production/x: secret expired": the operation, the path, the
// version only when the user named it, and the reason without the
// library's "agentvault: " prefixes. Library messages never hold values.
func describe(err error) string {
	showVersion := false
	if v, ok := err.(versioned); ok {
		err, showVersion = v.error, true
	}
	ae, ok := err.(*agentvault.Error)
	if !ok {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(ae.Op)
	if ae.Path != "" {
		b.WriteString(" " + ae.Path)
	}
	if showVersion && ae.Version != "" {
		b.WriteString(" " + ae.Version)
	}
	if ae.Err != nil {
		b.WriteString(": " + strings.TrimPrefix(ae.Err.Error(), "agentvault: "))
	}
	return b.String()
}

// oneLine replaces line breaks so that an error is always one line.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// config is where the vault is and who is acting, from flags, environment
// and defaults.
type config struct {
	home           string // $ASS_HOME, absolute
	backend        string // URL
	kms            string // URL
	defaultBackend string // file://$ASS_HOME/store
	defaultKMS     string // local://$ASS_HOME/key
	actor          string
}

// config resolves the global flags against the environment, once.
func (c *cli) config() (*config, error) {
	if c.cfg != nil {
		return c.cfg, nil
	}
	home := c.getenv("ASS_HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("cannot find the home directory (set ASS_HOME): %w", err)
		}
		home = filepath.Join(h, ".agentvault")
	}
	if abs, err := filepath.Abs(home); err == nil {
		home = abs
	}
	cfg := &config{
		home:           home,
		defaultBackend: "file://" + filepath.Join(home, "store"),
		defaultKMS:     "local://" + filepath.Join(home, "key"),
	}
	cfg.backend = firstOf(c.g.backend, c.getenv("ASS_BACKEND"), cfg.defaultBackend)
	cfg.kms = firstOf(c.g.kms, c.getenv("ASS_KMS"), cfg.defaultKMS)
	cfg.actor = firstOf(c.g.actor, c.getenv("ASS_ACTOR"), c.getenv("USER"), "cli")
	c.cfg = cfg
	// A person runs ass: the actor goes on the context, which the library
	// audits as actor kind "human" (the vault's WithActor default would be
	// "service") and records as created_by, as before.
	c.ctx = agentvault.ContextWithActor(c.ctx, cfg.actor)
	return cfg, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// open opens the vault for a command other than init.
func (c *cli) open(opts ...openOption) (*session, error) {
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	s, err := openVault(c.ctx, cfg, false, opts...)
	if err != nil {
		return nil, err
	}
	s.p = s.principalFor(c)
	return s, nil
}

// quietLogger discards go-redis's log lines.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
