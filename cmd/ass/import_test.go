package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend"
	"github.com/agentvault/agentvault/backend/membackend"
	"github.com/agentvault/agentvault/envfile"
	"github.com/agentvault/agentvault/kms/localkms"
)

// writeFile writes content to name in a new temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// listByPath runs "ass list PREFIX --json" and indexes it by path.
func (s *sandbox) listByPath(prefix string) map[string]map[string]any {
	s.t.Helper()
	args := []string{"list", "--json"}
	if prefix != "" {
		args = append(args, prefix)
	}
	out := map[string]map[string]any{}
	for _, m := range decodeArray(s.t, s.ok("", args...)) {
		out[m["path"].(string)] = m
	}
	return out
}

const threeVars = "DB_URL=postgres://db/app\nSTRIPE_KEY=" + canary + "\nPORT=8080\n"

func TestImportBasics(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	file := writeFile(t, ".env", threeVars)

	out := s.ok("", "import", file, "--namespace", "production", "--tier", "standard")
	assert.Equal(t, "Imported 3 secrets, skipped 0\n", out)
	l := s.listByPath("")
	require.Len(t, l, 3)
	for _, p := range []string{"production/DB_URL", "production/STRIPE_KEY", "production/PORT"} {
		require.Contains(t, l, p)
		assert.Equal(t, "standard", l[p]["tier"], p)
		assert.Equal(t, "custom", l[p]["type"], p)
		assert.Equal(t, "v1", l[p]["version"], p)
	}
	assert.Equal(t, canary, s.ok("", "get", "production/STRIPE_KEY"))
	assert.Equal(t, "postgres://db/app", s.ok("", "get", "production/DB_URL"))

	// Idempotent: a rerun skips everything and writes nothing.
	assert.Equal(t, "Imported 0 secrets, skipped 3\n", s.ok("", "import", file, "--namespace", "production"))
	for p, m := range s.listByPath("") {
		assert.Equal(t, "v1", m["version"], "%s after a rerun", p)
	}

	// Without --tier the default is sensitive; a trailing "/" is dropped.
	assert.Equal(t, "Imported 3 secrets, skipped 0\n", s.ok("", "import", file, "--namespace", "staging/app/"))
	for p, m := range s.listByPath("staging/") {
		assert.Equal(t, "sensitive", m["tier"], p)
	}
}

func TestImportStdin(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	assert.Equal(t, "Imported 3 secrets, skipped 0\n", s.ok(threeVars, "import", "--namespace", "staging"))
	assert.Equal(t, "Imported 3 secrets, skipped 0\n", s.ok(threeVars, "import", "-", "--namespace", "dash"))
	assert.Equal(t, "Imported 1 secret, skipped 3\n", s.ok(threeVars+"NEW=1\n", "import", "-", "--namespace", "dash"))
	assert.Len(t, s.listByPath("staging/"), 3)
	assert.Len(t, s.listByPath("dash/"), 4)
	assert.Equal(t, canary, s.ok("", "get", "dash/STRIPE_KEY"))
	// An empty input imports nothing.
	assert.Equal(t, "Imported 0 secrets, skipped 0\n", s.ok("# nothing\n\n", "import", "--namespace", "empty"))
}

func TestImportOverwrite(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(threeVars, "import", "--namespace", "p", "--tier", "critical")
	changed := "DB_URL=postgres://db/app\nSTRIPE_KEY=sk-rotated\nPORT=8080\nNEW=x\n"

	// Without --overwrite existing secrets are left alone.
	assert.Equal(t, "Imported 1 secret, skipped 3\n", s.ok(changed, "import", "--namespace", "p"))
	assert.Equal(t, canary, s.ok("", "get", "p/STRIPE_KEY"))

	// A dry run with --overwrite plans the update and writes nothing.
	out := s.ok(changed, "import", "--namespace", "p", "--overwrite", "--dry-run")
	assert.Contains(t, out, "update     p/STRIPE_KEY")
	assert.Contains(t, out, "unchanged  p/DB_URL")
	assert.Equal(t, "Dry run: would import 0 secrets, skip 3, update 1; nothing written", lastLine(out))
	assert.Equal(t, canary, s.ok("", "get", "p/STRIPE_KEY"))

	// --overwrite adds a version only where the value changed.
	assert.Equal(t, "Imported 0 secrets, skipped 3, updated 1\n", s.ok(changed, "import", "--namespace", "p", "--overwrite"))
	assert.Equal(t, "sk-rotated", s.ok("", "get", "p/STRIPE_KEY"))
	l := s.listByPath("p/")
	assert.Equal(t, "v2", l["p/STRIPE_KEY"]["version"])
	assert.Equal(t, "critical", l["p/STRIPE_KEY"]["tier"], "an update keeps the tier")
	for _, p := range []string{"p/DB_URL", "p/PORT", "p/NEW"} {
		assert.Equal(t, "v1", l[p]["version"], p)
	}
	assert.Equal(t, canary, s.ok("", "get", "p/STRIPE_KEY", "--version", "v1"))
	// And again: nothing changes.
	assert.Equal(t, "Imported 0 secrets, skipped 4\n", s.ok(changed, "import", "--namespace", "p", "--overwrite"))
	assert.Equal(t, "v2", s.listByPath("p/")["p/STRIPE_KEY"]["version"])
}

func TestImportDryRun(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	file := writeFile(t, ".env", threeVars)
	out := s.ok("", "import", file, "--namespace", "production", "--dry-run", "--tier-prefix", "DB_=critical")
	want := "" +
		"ACTION  PATH                   TIER       TYPE\n" +
		"create  production/DB_URL      critical   custom\n" +
		"create  production/STRIPE_KEY  sensitive  custom\n" +
		"create  production/PORT        sensitive  custom\n" +
		"Dry run: would import 3 secrets, skip 0; nothing written\n"
	assert.Equal(t, want, out)
	assert.NotContains(t, out, canary)
	assert.Empty(t, decodeArray(t, s.ok("", "list", "--json")), "a dry run wrote secrets")

	s.ok("", "import", file, "--namespace", "production")
	out = s.ok("NEW=1\n"+threeVars, "import", "--namespace", "production", "--dry-run")
	assert.Contains(t, out, "create  production/NEW         sensitive  custom\n")
	assert.Contains(t, out, "skip    production/PORT        -          -\n")
	assert.Equal(t, "Dry run: would import 1 secret, skip 3; nothing written", lastLine(out))
	assert.NotContains(t, s.listByPath(""), "production/NEW")

	// --json: the plan, with dry_run set.
	j := decodeObject(t, s.ok("NEW=1\n", "import", "--namespace", "production", "--dry-run", "--json"))
	assert.Equal(t, true, j["dry_run"])
	assert.Equal(t, 1.0, j["created"])
	assert.Len(t, s.listByPath(""), 3)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestImportPrefixes(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	env := "DB_URL=a\nDB_RO_URL=b\nSTRIPE_KEY=c\nOPENAI_API_KEY=d\nOTHER=e\nGITHUB_TOKEN=f\n"
	out := s.ok(env, "import", "--namespace", "production",
		"--tier-prefix", "DB_=critical", "--tier-prefix", "DB_RO_=standard", "--tier-prefix=STRIPE_=sensitive",
		"--tier", "standard", "--tier-prefix", "OPENAI_=standard",
		"--type-prefix", "DB_=db_credential", "--type-prefix", "STRIPE_=payment_credential",
		"--type-prefix", "OPENAI_=api_key", "--type", "oauth_token", "--type-prefix", "GITHUB_=oauth_token",
		"--tier-prefix", "OTHER=critical", "--tier-prefix", "OTHER=sensitive") // a later flag for the same prefix wins
	assert.Equal(t, "Imported 6 secrets, skipped 0\n", out)
	l := s.listByPath("production/")
	want := map[string][2]string{
		"DB_URL":         {"critical", "db_credential"},
		"DB_RO_URL":      {"standard", "db_credential"}, // longest prefix wins
		"STRIPE_KEY":     {"sensitive", "payment_credential"},
		"OPENAI_API_KEY": {"standard", "api_key"},
		"OTHER":          {"sensitive", "oauth_token"},
		"GITHUB_TOKEN":   {"standard", "oauth_token"},
	}
	for name, tt := range want {
		m := l["production/"+name]
		require.NotNil(t, m, name)
		assert.Equal(t, tt[0], m["tier"], "tier of %s", name)
		assert.Equal(t, tt[1], m["type"], "type of %s", name)
	}
}

func TestImportJSONAndVerbose(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	out := s.ok(threeVars, "import", "--namespace", "ns", "--json", "--tier-prefix", "DB_=critical")
	j := decodeObject(t, out)
	assert.NotContains(t, out, canary)
	assert.Equal(t, 3.0, j["created"])
	assert.Equal(t, 0.0, j["updated"])
	assert.Equal(t, 0.0, j["skipped"])
	assert.Equal(t, false, j["dry_run"])
	assert.NotContains(t, j, "warnings")
	secrets := j["secrets"].([]any)
	require.Len(t, secrets, 3)
	assert.Equal(t, map[string]any{"variable": "DB_URL", "line": 1.0, "path": "ns/DB_URL", "type": "custom",
		"tier": "critical", "action": "created", "version": "v1"}, secrets[0])
	assert.Equal(t, "ns/PORT", secrets[2].(map[string]any)["path"])
	assert.Equal(t, 3.0, secrets[2].(map[string]any)["line"])

	out = s.ok(threeVars+"MORE=1\n", "import", "--namespace", "ns", "--verbose")
	assert.Equal(t, ""+
		"ACTION   PATH           TIER       TYPE\n"+
		"skipped  ns/DB_URL      -          -\n"+
		"skipped  ns/STRIPE_KEY  -          -\n"+
		"skipped  ns/PORT        -          -\n"+
		"created  ns/MORE        sensitive  custom\n"+
		"Imported 1 secret, skipped 3\n", out)

	j = decodeObject(t, s.ok("PORT=9090\n", "import", "--namespace", "ns", "--overwrite", "--json"))
	assert.Equal(t, 1.0, j["updated"])
	assert.Equal(t, "updated", j["secrets"].([]any)[0].(map[string]any)["action"])
	assert.Equal(t, "v2", j["secrets"].([]any)[0].(map[string]any)["version"])
}

func TestImportDuplicatesWarn(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	r := s.run("A=first\nB="+canary+"\nA=second\n", "import", "--namespace", "d")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "ass: warning: envfile: line 3: duplicate variable A overrides the definition at line 1\n", r.stderr)
	assert.Equal(t, "Imported 2 secrets, skipped 0\n", r.stdout)
	assert.Equal(t, "second", s.ok("", "get", "d/A"))

	r = s.run("A=third\nA=fourth\n", "import", "--namespace", "d", "--json", "--overwrite")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "duplicate variable A")
	j := decodeObject(t, r.stdout)
	assert.Equal(t, []any{"envfile: line 2: duplicate variable A overrides the definition at line 1"}, j["warnings"])
	assert.Equal(t, 2.0, j["secrets"].([]any)[0].(map[string]any)["line"])
	assert.Equal(t, "fourth", s.ok("", "get", "d/A"))
}

func TestImportParseErrorWritesNothing(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	var b strings.Builder
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&b, "VAR_%d=%s-%d\n", i, canary, i)
	}
	b.WriteString(canary + "\n") // line 12: a stray secret, not a definition
	b.WriteString("LAST=1\n")
	file := writeFile(t, "bad.env", b.String())
	for _, args := range [][]string{
		{"import", file, "--namespace", "p"},
		{"import", file, "--namespace", "p", "--dry-run"},
		{"import", file, "--namespace", "p", "--json"},
	} {
		stderr := s.fails(exitUsage, "", args...)
		assert.Equal(t, "ass: import: envfile: line 12: missing '=' after variable name\n", stderr, "%q", args)
	}
	stderr := s.fails(exitUsage, "A=1\nB=\"unterminated "+canary+"\nC=3\n", "import", "--namespace", "p")
	assert.Equal(t, "ass: import: envfile: line 3: unterminated double quote in value of B (opened at line 2)\n", stderr)
	stderr = s.fails(exitUsage, "A=1\nB=\xff\n", "import", "--namespace", "p")
	assert.Equal(t, "ass: import: envfile: line 2: invalid UTF-8\n", stderr)
	assert.Empty(t, decodeArray(t, s.ok("", "list", "--json")))

	// Invalid input found after the first chunk still writes nothing: an
	// oversized value, or a path too long for the vault.
	var many strings.Builder
	for i := range importChunk + 100 {
		fmt.Fprintf(&many, "V%04d=x\n", i)
	}
	big := many.String() + "HUGE=\"" + strings.Repeat(strings.Repeat("x", 1023)+"\n", 64) + "x\"\n" // 64 KiB + 1, in short lines
	stderr = s.fails(exitUsage, big, "import", "--namespace", "p")
	assert.Equal(t, fmt.Sprintf("ass: import: variable HUGE (line %d): value is 65537 bytes, larger than the limit of 65536\n", importChunk+101), stderr)
	long := many.String() + "L" + strings.Repeat("o", 520) + "NG=1\n"
	stderr = s.fails(exitUsage, long, "import", "--namespace", "p")
	assert.Contains(t, stderr, "ass: import: variable Loooo")
	assert.Contains(t, stderr, fmt.Sprintf("(line %d): invalid path: 525 bytes, longer than 512", importChunk+101))
	assert.Empty(t, decodeArray(t, s.ok("", "list", "--json")))

	// A missing file.
	stderr = s.fails(exitError, "", "import", filepath.Join(t.TempDir(), "none.env"), "--namespace", "p")
	assert.Contains(t, stderr, "ass: import: open ")
	assert.Contains(t, stderr, "no such file or directory")
}

func TestImportUsageErrors(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"import"}, "import: --namespace is required"},
		{[]string{"import", "-"}, "import: --namespace is required"},
		{[]string{"import", "--namespace", ""}, `import: invalid --namespace: empty namespace`},
		{[]string{"import", "--namespace", "/"}, `import: invalid --namespace: empty namespace`},
		{[]string{"import", "--namespace", "a b"}, `import: invalid --namespace: invalid path: segment 1 "a b" contains ' '`},
		{[]string{"import", "--namespace", "a", "--namespace", "b"}, "import: flag --namespace given more than once"},
		{[]string{"import", "a.env", "b.env", "--namespace", "p"}, "import: wrong number of arguments: want [FILE|-]"},
		{[]string{"import", "--namespace", "p", "--tier-prefix", "DB_"}, `import: invalid --tier-prefix: "DB_" is not PREFIX=VALUE`},
		{[]string{"import", "--namespace", "p", "--tier-prefix", "=critical"}, `import: invalid --tier-prefix: "=critical" has an empty prefix`},
		{[]string{"import", "--namespace", "p", "--tier-prefix", "DB_=secret"}, `import: invalid --tier-prefix: unknown tier "secret"`},
		{[]string{"import", "--namespace", "p", "--tier-prefix", "1DB=critical"}, `import: invalid --tier-prefix: prefix "1DB" can never match a variable name`},
		{[]string{"import", "--namespace", "p", "--tier-prefix", "DB URL=critical"}, `prefix "DB URL" can never match`},
		{[]string{"import", "--namespace", "p", "--type-prefix", "DB_=password"}, `import: invalid --type-prefix: unknown type "password"`},
		{[]string{"import", "--namespace", "p", "--type-prefix", "DB_"}, `import: invalid --type-prefix: "DB_" is not PREFIX=VALUE`},
		{[]string{"import", "--namespace", "p", "--tier", "x"}, "import: invalid --tier"},
		{[]string{"import", "--namespace", "p", "--type", "x"}, "import: invalid --type"},
		{[]string{"import", "--namespace", "p", "--bogus"}, "import: unknown flag --bogus"},
	}
	for _, tc := range cases {
		stderr := s.fails(exitUsage, threeVars, tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
		assert.Contains(t, stderr, `(see "ass help import")`, "ass %q", tc.args)
	}
	assert.Empty(t, decodeArray(t, s.ok("", "list", "--json")))
}

func TestImportHelp(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	help := s.ok("", "help", "import")
	for _, want := range []string{"Usage: ass import [FILE|-] [FLAGS]", "--namespace NS", "--tier TIER", "--tier-prefix PREFIX=TIER",
		"--type TYPE", "--type-prefix PREFIX=TYPE", "--dry-run", "--overwrite", "--verbose", "--json", "required",
		"Imported N secrets, skipped M", "longest"} {
		assert.Contains(t, help, want)
	}
	main := s.ok("", "help")
	for _, want := range []string{"import", "export", "run"} {
		assert.Contains(t, main, "\n  "+want+" ")
	}
}

func TestImportInProcessTerminal(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	c, _, errb := newTestCLI(t, home, "")
	require.Equal(t, exitOK, c.run([]string{"init"}), errb.String())

	// Progress on a terminal's stderr for a large import, erased at the end.
	var env strings.Builder
	n := importChunk*2 + 10
	for i := range n {
		fmt.Fprintf(&env, "K%04d=%d\n", i, i)
	}
	c, out, errb := newTestCLI(t, home, env.String())
	c.stderrTTY = true
	require.Equal(t, exitOK, c.run([]string{"import", "--namespace", "big"}), errb.String())
	assert.Equal(t, fmt.Sprintf("Imported %d secrets, skipped 0\n", n), out.String())
	progress := errb.String()
	for _, done := range []int{0, importChunk, 2 * importChunk, n} {
		assert.Contains(t, progress, fmt.Sprintf("\rass: importing… %d/%d variables", done, n))
	}
	assert.True(t, strings.HasSuffix(progress, "\r\033[K"), "progress line not erased: %q", progress)

	// None for a small import, or when stderr is not a terminal.
	c, _, errb = newTestCLI(t, home, threeVars)
	c.stderrTTY = true
	require.Equal(t, exitOK, c.run([]string{"import", "--namespace", "small"}), errb.String())
	assert.Empty(t, errb.String())
	c, _, errb = newTestCLI(t, home, env.String())
	require.Equal(t, exitOK, c.run([]string{"import", "--namespace", "big"}), errb.String())
	assert.Empty(t, errb.String())

	// No FILE and stdin a terminal: a usage error, not a hang.
	c, _, errb = newTestCLI(t, home, "")
	c.stdinTTY = true
	assert.Equal(t, exitUsage, c.run([]string{"import", "--namespace", "tty"}))
	assert.Contains(t, errb.String(), "standard input is a terminal")
}

// TestImportLargeChunked imports more than a chunk with duplicates and
// multi-line values: line numbers and counts are those of the whole input.
func TestImportLargeChunked(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	var b strings.Builder
	line := 1
	want := map[string]int{}
	values := map[string]string{}
	for i := range importChunk*2 + 7 {
		k := fmt.Sprintf("K%04d", i)
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "%s=\"multi\nline %d\"\n", k, i)
			want[k], values[k] = line, fmt.Sprintf("multi\nline %d", i)
			line += 2
		case 1:
			fmt.Fprintf(&b, "# comment\n%s='v %d'\n", k, i)
			want[k], values[k] = line+1, fmt.Sprintf("v %d", i)
			line += 2
		default:
			fmt.Fprintf(&b, "%s=\"escaped\\n%d\"\n", k, i)
			want[k], values[k] = line, fmt.Sprintf("escaped\n%d", i)
			line++
		}
	}
	fmt.Fprintf(&b, "K0001=redefined\n")
	want["K0001"], values["K0001"] = line, "redefined"
	r := s.run(b.String(), "import", "--namespace", "big", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, fmt.Sprintf("ass: warning: envfile: line %d: duplicate variable K0001 overrides the definition at line 4\n", line), r.stderr)
	j := decodeObject(t, r.stdout)
	assert.Equal(t, float64(len(want)), j["created"])
	got := map[string]int{}
	for _, sec := range j["secrets"].([]any) {
		m := sec.(map[string]any)
		got[m["variable"].(string)] = int(m["line"].(float64))
	}
	assert.Equal(t, want, got)
	// One import id for all the chunks, in every secret.imported event.
	id, _ := j["import_id"].(string)
	assert.Regexp(t, `^imp_[0-9a-f]{16}$`, id)
	ids := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(s.ok("", "audit", "--json", "--event", "secret.imported")), "\n") {
		ids[decodeObject(t, l)["import_id"].(string)]++
	}
	assert.Equal(t, map[string]int{id: 2*len(want) + 3}, ids, "two events per secret, a summary per chunk")
	for _, k := range []string{"K0000", "K0001", "K0500", "K1005", "K1006"} {
		assert.Equal(t, values[k], s.ok("", "get", "big/"+k), k)
	}
	r = s.run(b.String(), "import", "--namespace", "big")
	assert.Equal(t, fmt.Sprintf("Imported 0 secrets, skipped %d\n", len(want)), r.stdout)
}

// flakyBackend fails every Put after the first okPuts, until healed.
type flakyBackend struct {
	backend.Backend
	okPuts atomic.Int64
	broken atomic.Bool
}

var errDiskFull = errors.New("flaky: disk full")

func (f *flakyBackend) Put(ctx context.Context, key string, value []byte, rev int64) (int64, error) {
	if strings.HasPrefix(key, "s/") && f.broken.Load() && f.okPuts.Add(-1) < 0 {
		return 0, errDiskFull
	}
	return f.Backend.Put(ctx, key, value, rev)
}

// TestImportFailsPartWay checks the error of a storage failure in a later
// chunk: the variable, its line in the input and the counts of the whole
// input; the result lists exactly what was written; a rerun finishes.
func TestImportFailsPartWay(t *testing.T) {
	t.Parallel()
	keys, err := localkms.New("k1", bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	fb := &flakyBackend{Backend: membackend.New()}
	v, err := agentvault.New(fb, keys)
	require.NoError(t, err)
	defer v.Close()

	var b strings.Builder
	n := importChunk + 300
	for i := range n {
		fmt.Fprintf(&b, "# %d\nK%04d=%s\n", i, i, canary)
	}
	f, err := envfile.ParseString(b.String())
	require.NoError(t, err)
	entries := f.Dedup()

	c, _, _ := newTestCLI(t, t.TempDir(), "")
	done := importChunk + 100 // the Put that fails is in the second chunk
	fb.okPuts.Store(int64(done))
	fb.broken.Store(true)
	res, err := c.importEntries(v, entries, agentvault.ImportOptions{Namespace: "ns"})
	require.Error(t, err)
	msg := describe(err)
	assert.Equal(t, fmt.Sprintf("import ns/K%04d: variable K%04d (line %d): create ns/K%04d: flaky: disk full; %d of %d variables done, run the import again to finish",
		done, done, 2*done+2, done, done, n), msg)
	assert.NotContains(t, msg, canary)
	assert.ErrorIs(t, err, errDiskFull)
	require.Len(t, res.Secrets, done)
	assert.Equal(t, done, res.Created)
	assert.Equal(t, fmt.Sprintf("K%04d", done-1), res.Secrets[done-1].Variable)
	assert.Equal(t, 2*done, res.Secrets[done-1].Line)
	ms, err := v.ListSecrets(t.Context(), agentvault.ListFilter{Prefix: "ns/"})
	require.NoError(t, err)
	assert.Len(t, ms, done, "the result lists exactly what was written")

	// A failure at a chunk's first variable.
	fb.okPuts.Store(0)
	res, err = c.importEntries(v, entries[:10], agentvault.ImportOptions{Namespace: "other"})
	require.Error(t, err)
	assert.Equal(t, "import other/K0000: variable K0000 (line 2): create other/K0000: flaky: disk full; 0 of 10 variables done, run the import again to finish", describe(err))
	assert.Empty(t, res.Secrets)

	fb.broken.Store(false)
	res, err = c.importEntries(v, entries, agentvault.ImportOptions{Namespace: "ns"})
	require.NoError(t, err)
	assert.Equal(t, n-done, res.Created)
	assert.Equal(t, done, res.Skipped)

	// An error of the chunk as a whole (here: the vault is closed).
	require.NoError(t, v.Close())
	_, err = c.importEntries(v, entries, agentvault.ImportOptions{Namespace: "ns"})
	assert.ErrorIs(t, err, agentvault.ErrClosed)
	assert.Equal(t, fmt.Sprintf("import ns: vault closed; 0 of %d variables done, run the import again to finish", n), describe(err))
}

func TestPrefixAndNamespaceFlags(t *testing.T) {
	fs := newFlagSet("x")
	tiers := newPrefixFlag(agentvault.ParseAccessTier)
	fs.Var(tiers, "tier-prefix", "")
	require.NoError(t, fs.Parse([]string{"--tier-prefix", "B_=critical", "--tier-prefix", "A_=standard", "--tier-prefix", "A_=sensitive"}))
	assert.Equal(t, "A_=sensitive,B_=critical", tiers.String())
	assert.Error(t, fs.Parse([]string{"--tier-prefix", "C=x=standard"}), "C=x=standard: the value is x=standard")

	var ns namespacesFlag
	require.NoError(t, ns.Set("a"))
	require.NoError(t, ns.Set("b/c/"))
	assert.Equal(t, []string{"a", "b/c"}, ns.list)
	assert.Error(t, ns.Set("a//b"))
	assert.Error(t, ns.Set(".."))
	one := namespacesFlag{single: true}
	require.NoError(t, one.Set("a"))
	assert.Error(t, one.Set("b"))
}

// TestImport10k imports a 10,000-variable .env through the CLI on the
// default file backend and logs the time (not asserted: see BENCHMARKS.md).
func TestImport10k(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	s := newSandbox(t)
	s.init()
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, "VAR_%05d=value-%d-%s\n", i, i, strings.Repeat("x", 32))
	}
	file := writeFile(t, "10k.env", b.String())
	start := time.Now()
	out := s.ok("", "import", file, "--namespace", "bulk")
	first := time.Since(start)
	assert.Equal(t, "Imported 10000 secrets, skipped 0\n", out)
	start = time.Now()
	out = s.ok("", "import", file, "--namespace", "bulk")
	rerun := time.Since(start)
	assert.Equal(t, "Imported 0 secrets, skipped 10000\n", out)
	t.Logf("10,000-variable import into the file backend through the CLI: %v (idempotent rerun %v)", first.Round(time.Millisecond), rerun.Round(time.Millisecond))
}

// TestImportGodotenvEscapes: a .env file written by godotenv.Marshal
// ('!' as \!, '`' as \`) imports byte-exact (issue 17 item 12).
func TestImportGodotenvEscapes(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("PASSWORD=\"pa\\!ss\"\nTICK=\"a\\`b\\$c\\\\d\"\n", "import", "--namespace", "g")
	assert.Equal(t, "pa!ss", s.ok("", "get", "g/PASSWORD"))
	assert.Equal(t, "a`b$c\\d", s.ok("", "get", "g/TICK"))
	stderr := s.fails(exitUsage, "K='it\\'s'\n", "import", "--namespace", "g")
	assert.Contains(t, stderr, "inside single quotes a backslash is literal")
}
