package main

import (
	"encoding/json"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExitCodeBadInput: a bad argument or flag value exits 2 whether the
// command line parser or the library refuses it (issue 17 item 1).
func TestExitCodeBadInput(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("v", "set", "p/x")
	for _, args := range [][]string{
		{"get", "a b"},
		{"set", "../etc/passwd", "x"},
		{"get", "p/x", "--version", "v0"},
		{"token", "request", "--scope", "secrets:read:p/*", "--ttl", "25h"},
		{"token", "request", "--scope", "secrets:read:p/*", "--ttl", "0s"},
		{"set", "p/y", "x", "--description", strings.Repeat("d", 1025)},
		{"import", "--namespace", "../x", "/dev/null"},
		{"get", "p/x", "--version", "v2", "--version", "v1"},
		{"list", "--backend", "mem://", "--backend", "mem://"},
		{"list", "--json", "--json"},
	} {
		s.fails(exitUsage, "", args...)
	}
	assert.Contains(t, s.fails(exitUsage, "", "get", "p/x", "--version", "v2", "--version", "v1"),
		"get: flag --version given more than once")
	s.fails(exitNotFound, "", "get", "p/x", "--version", "v2")
}

// sampleValues are tried in turn as a flag's value until one is accepted.
var sampleValues = []string{"x", "p", "1h", "5", "standard", "api_key", "human", "2099-01-01T00:00:00Z",
	"a=b", "A=standard", "A=api_key", "127.0.0.1", "secrets:read:p/*", "https://example.com/hook", "env://K"}

// TestEveryFlagOnce walks every command's flags, global ones included: a
// flag whose help does not say "repeatable" is refused the second time,
// a repeatable one is accepted (issue 17 item 1).
func TestEveryFlagOnce(t *testing.T) {
	for _, cmd := range commands {
		var g globals
		fs := newFlagSet(cmd.name)
		addGlobals(fs, &g)
		cmd.define(fs)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		for _, name := range names {
			f := fs.Lookup(name)
			value := ""
			if bf, ok := f.Value.(boolFlag); !ok || !bf.IsBoolFlag() {
				for _, v := range sampleValues {
					probe := newFlagSet(cmd.name)
					addGlobals(probe, &globals{})
					cmd.define(probe)
					if probe.Set(name, v) == nil {
						value = v
						break
					}
				}
				require.NotEmpty(t, value, "ass %s --%s: no sample value accepted", cmd.name, name)
			}
			arg := "--" + name
			if value != "" {
				arg += "=" + value
			}
			fresh := newFlagSet(cmd.name)
			addGlobals(fresh, &globals{})
			cmd.define(fresh)
			_, err := parseArgs(fresh, []string{arg, arg}, cmd.secretArgs, cmd.maxArgs)
			if repeatable(f) {
				assert.NoError(t, err, "ass %s %s %s", cmd.name, arg, arg)
				continue
			}
			require.Error(t, err, "ass %s %s %s: a single-valued flag given twice", cmd.name, arg, arg)
			assert.Equal(t, "flag --"+name+" given more than once (it takes one value)", err.Error(), "ass %s %s %s", cmd.name, arg, arg)
		}
	}
}

// TestEveryCommandUnknownFlag runs every command with an unknown flag: exit
// 2, the flag named (or, where it could be a secret value, its position),
// and under --json the error as one JSON object on stderr (issue 17 items 1
// and 2).
func TestEveryCommandUnknownFlag(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	for _, cmd := range commands {
		args := []string{cmd.name, "--no-such-flag"}
		if cmd.passThrough {
			args = append(args, "--", "true")
		}
		stderr := s.fails(exitUsage, "", args...)
		if cmd.secretArgs {
			assert.Contains(t, stderr, cmd.name+": argument 1 is an unknown flag (not shown", "ass %q", args)
		} else {
			assert.Contains(t, stderr, cmd.name+": unknown flag --no-such-flag", "ass %q", args)
		}

		args = append([]string{"--json"}, args...)
		r := s.run("", args...)
		require.Equal(t, exitUsage, r.code, "ass %q", args)
		assert.Empty(t, r.stdout, "ass %q", args)
		var e map[string]map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.stderr), &e), "ass %q: stderr %q", args, r.stderr)
		assert.Equal(t, "usage", e["error"]["code"], "ass %q", args)
		assert.EqualValues(t, exitUsage, e["error"]["exit_code"], "ass %q", args)
		assert.Contains(t, e["error"]["message"], cmd.name+": ", "ass %q", args)
	}
	// Every exit code has its JSON name.
	r := s.run("", "--json", "get", "p/none")
	require.Equal(t, exitError, r.code, "no vault yet: %q", r.stderr)
	s.init()
	r = s.run("", "get", "p/none", "--json")
	require.Equal(t, exitNotFound, r.code)
	assert.JSONEq(t, `{"error":{"code":"not_found","exit_code":3,"message":"get p/none: secret not found"}}`, r.stderr)
}
