package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"slices"
	"sort"
	"strings"
	"syscall"
)

var runCommand = &command{
	name:      "run",
	withToken: true,
	args:      "-- COMMAND [ARG...]",
	summary:   "run a command with a namespace's secrets in its environment",
	details: `Runs COMMAND with each secret NS/NAME directly under --namespace NS added to
its environment as the variable NAME. Give --namespace more than once to
combine namespaces; a name defined in two of them is an error naming both
secrets. Variables already in the environment are replaced, unless
--keep-existing, which lets them win. An expired secret, or a value holding
a NUL byte, is left out with a warning on stderr.

Secrets in subfolders (NS/a/b) are left out, with a warning naming them,
unless another --namespace covers them (--namespace NS --namespace NS/a), or
--recursive: then NS/REL becomes the variable REL with every "/" replaced by
"_" (NS/DB/PASSWORD is DB_PASSWORD; NS/db/password is refused as not an
upper-case name), and a name two secrets map to is an error naming both.

A namespace that injects nothing (no secrets directly under it, or every one
skipped) is a warning on stderr; with --strict it is an error (exit 3) and
COMMAND is not started.

Whoever may write a secret into NS must not be able to take over COMMAND. So
run never injects, and says on stderr which secrets it skipped and why:
  - names that are not upper-case variable names ([A-Z_][A-Z0-9_]*);
  - names that change how programs are found, loaded or run, which files
    they read or where they send data: PATH, LD_*, DYLD_*, BASH_ENV, ENV,
    BASH_FUNC_*, SHELLOPTS, BASHOPTS, PS4, PROMPT_COMMAND, IFS, CDPATH, HOME,
    SHELL, EDITOR, PAGER, GIT_*, NODE_OPTIONS, PYTHONPATH, PERL5OPT, RUBYOPT,
    JAVA_TOOL_OPTIONS, HTTPS_PROXY, SSL_CERT_FILE and others of the kind;
  - ass's own variables: ASS_* and the variable an env:// key names.
--allow-env NAME (repeatable) lets the secret NAME through anyway. COMMAND
also never inherits ass's own variables (ASS_*, the env:// key variable)
from ass's environment, so it cannot open the vault as you; --allow-env
NAME keeps one.

"--" before COMMAND is required. COMMAND gets ass's stdin, stdout and stderr;
SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to ass are passed on to it (a
Ctrl-C on a terminal also reaches COMMAND directly, as usual). ass
prints nothing of its own (but the warnings above) and exits with COMMAND's
exit status (128+N when COMMAND is killed by signal N); 127 when COMMAND is
not found, 126 when it cannot be started. The secrets are visible to COMMAND
and everything it starts, and to anyone who can read its environment (the
same user, root).

Example:
  ass run --namespace production -- ./server --port 8080`,
	minArgs: 1, maxArgs: math.MaxInt, passThrough: true,
	define: func(fs *flag.FlagSet) func(*cli, []string) error {
		ns := &namespacesFlag{}
		fs.Var(ns, "namespace", "add the secrets directly under `NS` (repeatable; required)")
		keep := fs.Bool("keep-existing", false, "variables already in the environment win over secrets")
		strict := fs.Bool("strict", false, "fail (exit 3) instead of warning when a namespace injects nothing")
		recursive := fs.Bool("recursive", false, "also inject the secrets in subfolders: NS/DB/PASSWORD as DB_PASSWORD")
		allow := &allowEnvFlag{}
		fs.Var(allow, "allow-env", "pass the variable `NAME` even though run refuses it by default (repeatable)")
		return func(c *cli, args []string) error {
			if len(ns.list) == 0 {
				return usagef("--namespace is required (e.g. --namespace production)")
			}
			if c.g.json {
				return usagef("--json does not apply: run prints nothing of its own")
			}
			cfg, err := c.config()
			if err != nil {
				return err
			}
			policy := newEnvPolicy(cfg.kms, allow.list)
			vars, err := c.secretEnv(ns.list, policy, runOptions{strict: *strict, recursive: *recursive})
			if err != nil {
				return err
			}
			return c.runChild(args, childEnv(policy.inherited(os.Environ()), vars, *keep))
		}
	},
}

// secretEnv reads the variables of the namespaces that policy lets
// through, warning on stderr about those it does not. A name defined in
// two namespaces is an error naming both secrets. The vault is closed
// before the command starts.
func (c *cli) secretEnv(namespaces []string, policy envPolicy, opt runOptions) (map[string]string, error) {
	s, err := c.open()
	if err != nil {
		return nil, err
	}
	defer s.Close()
	vars := map[string]string{}
	injected := map[string]int{} // namespace -> variables it injects
	from := map[string]string{}  // variable -> the secret it came from
	refused := refusedNames{}
	done := map[string]bool{}
	for _, ns := range namespaces {
		if done[ns] {
			continue // given twice: its names are not a clash
		}
		done[ns] = true
		entries, paths, skipped, err := readNamespace(c, s.p, ns, false, opt.recursive)
		if err != nil {
			return nil, err
		}
		skipped.report(c, "run", false)
		deeper := uncovered(skipped.deeper, namespaces)
		if len(deeper) > 0 {
			fmt.Fprintf(c.stderr, "ass: warning: run: skipped %s in subfolders of %s (--recursive injects NS/A/B as A_B, or give --namespace %s): %s\n",
				plural(len(deeper), "secret"), ns, path.Dir(deeper[0]), oneLine(listSome(deeper)))
		}
		if n := len(skipped.unreadable); n > 0 {
			// Never start the command with some of its secrets missing.
			clear(vars)
			return nil, &damagedError{op: "run", n: n, what: "record", stopped: true}
		}
		for _, p := range skipped.badName {
			refused.add(envBadName, p)
		}
		for i, e := range entries {
			path := paths[i]
			if prev, ok := from[e.Key]; ok {
				clear(vars)
				return nil, fmt.Errorf("run: variable %s is defined twice, by %s and by %s: remove one, or run with one of the namespaces",
					e.Key, prev, path)
			}
			from[e.Key] = path
			if why := policy.check(e.Key); why != envOK {
				refused.add(why, path)
				continue
			}
			vars[e.Key] = e.Value
			injected[ns]++
		}
		if injected[ns] == 0 {
			msg := fmt.Sprintf("namespace %s injects nothing: no secrets directly under it", ns)
			if len(entries) > 0 || skipped.skippedDirect() {
				msg = fmt.Sprintf("namespace %s injects nothing: every secret under it was skipped", ns)
			}
			if opt.strict {
				clear(vars)
				return nil, &exitStatus{code: exitNotFound, err: fmt.Errorf("run: %s (--strict); nothing was started", msg)}
			}
			fmt.Fprintf(c.stderr, "ass: warning: run: %s (--strict makes this an error)\n", msg)
		}
	}
	refused.each(func(n int, why, list string) {
		fmt.Fprintf(c.stderr, "ass: warning: run: skipped %s %s (--allow-env NAME passes one): %s\n",
			plural(n, "secret"), why, oneLine(list))
	})
	return vars, nil
}

// runOptions are ass run's --strict and --recursive.
type runOptions struct{ strict, recursive bool }

// uncovered are the paths of deeper that no namespace of namespaces holds
// directly (those another --namespace injects are not skipped).
func uncovered(deeper, namespaces []string) []string {
	var out []string
	for _, p := range deeper {
		if !slices.Contains(namespaces, path.Dir(p)) {
			out = append(out, p)
		}
	}
	return out
}

// listSome lists up to 10 paths, then "and N more".
func listSome(paths []string) string {
	const show = 10
	list := strings.Join(paths[:min(len(paths), show)], ", ")
	if len(paths) > show {
		list += fmt.Sprintf(" and %d more", len(paths)-show)
	}
	return list
}

// childEnv is base (KEY=VALUE strings) with vars added: replacing the
// variables of base with the same name, or with keep leaving those alone.
// The added variables come last, sorted by name.
func childEnv(base []string, vars map[string]string, keep bool) []string {
	out := make([]string, 0, len(base)+len(vars))
	present := make(map[string]bool, len(base))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		present[k] = true
		if _, ours := vars[k]; ours && !keep {
			continue
		}
		out = append(out, kv)
	}
	names := make([]string, 0, len(vars))
	for k := range vars {
		if !(keep && present[k]) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// exitStatus ends ass with code. With a nil err nothing is printed (run
// passing on its command's status); otherwise err is printed as usual.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitStatus) Unwrap() error { return e.err }

// forwarded are the signals run passes on to its command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// runChild runs args[0] with args[1:] and env, connected to ass's stdin,
// stdout and stderr, forwarding signals, and returns its exit status as an
// *exitStatus (nil for 0).
func (c *cli) runChild(args []string, env []string) error {
	name := truncate(args[0], 64)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	// Listen before starting, so that a signal arriving at once is passed
	// on rather than killing ass and orphaning the command.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return &exitStatus{code: 127, err: fmt.Errorf("run: %s: command not found", name)}
		}
		return &exitStatus{code: 126, err: fmt.Errorf("run: %s: %w", name, unwrapPathError(err))}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &exitStatus{code: 128 + int(ws.Signal())}
		}
		return &exitStatus{code: ee.ExitCode()}
	}
	// The command ran but copying its input or output failed.
	return fmt.Errorf("run: %s: %w", name, err)
}

// unwrapPathError drops the path of an *fs.PathError: the message already
// names the command.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
