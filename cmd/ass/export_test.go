package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

// trickyEnv is a .env file with values that need care to write back.
const trickyEnv = `# tricky values
PLAIN=abc
EMPTY=
EMPTY_DQ=""
EMPTY_SQ=''
SPACES="  leading and trailing  "
SINGLE_QUOTE="it's"
DOUBLE_QUOTE='say "hi"'
BOTH="it's \"both\""
NEWLINES="line1\nline2\n"
CRLF="a\r\nb\r"
HASH=a#b
HASH_SPACE="a #b"
HASH_FIRST="#notacomment"
DOLLAR='$HOME ${X} $(rm -rf /) \$'
DOLLAR_DQ="\$HOME"
BACKSLASH='C:\Users\x\'
UNICODE="héllo wörld ✓ 🔑 日本"
TAB="a	b\tc"
EQUALS=a=b=c
JSON='{"k": "v", "n": [1,2]}'
MULTI='-----BEGIN KEY-----
abc+/=
-----END KEY-----
'
export EXPORTED=yes
dotted.name-x=1
_UNDER=_
CANARY=` + canary + `
`

func TestExportRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	in, err := envfile.ParseString(trickyEnv)
	require.NoError(t, err)
	want := in.Map()
	require.Len(t, want, 25)

	s.ok(trickyEnv, "import", "--namespace", "app/prod")
	for k, v := range want {
		assert.Equal(t, v, s.ok("", "get", "app/prod/"+k), "get %s after import", k)
	}
	// A shell cannot assign dotted.name-x: export leaves it out.
	r := s.run("", "export", "--namespace", "app/prod")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "ass: warning: export: skipped 1 secret whose name is not a variable name: app/prod/dotted.name-x\n", r.stderr)
	delete(want, "dotted.name-x")
	s.ok("", "delete", "app/prod/dotted.name-x")
	out := s.ok("", "export", "--namespace", "app/prod")
	assert.Equal(t, r.stdout, out)
	got, err := envfile.ParseString(out)
	require.NoError(t, err, "parse the export:\n%s", out)
	assert.Equal(t, want, got.Map(), "import → export changed variables")
	assert.Empty(t, got.Warnings)

	// Sorted by name, one definition each.
	var names []string
	for _, e := range got.Entries {
		names = append(names, e.Key)
	}
	assert.True(t, sort.StringsAreSorted(names), "not sorted: %q", names)
	assert.Len(t, names, len(want))

	// Exporting what was imported from an export gives the same bytes.
	s.ok(out, "import", "--namespace", "copy")
	assert.Equal(t, out, s.ok("", "export", "--namespace", "copy"))

	// A trailing "/" on the namespace is the same namespace.
	assert.Equal(t, out, s.ok("", "export", "--namespace", "copy/"))
	// An empty namespace exports nothing.
	assert.Equal(t, "", s.ok("", "export", "--namespace", "nothing-here"))
}

func TestExportSkips(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok("", "set", "p/GOOD", "good")
	s.ok("", "set", "p/sub/DEEP", "deep")
	s.ok("", "set", "p/sub/more/DEEPER", "deeper")
	s.ok("", "set", "p/1BAD", "bad")
	s.ok("", "set", "p/.hidden", "hidden")
	s.ok("", "set", "p/OLD", canary)
	s.ok("", "update", "p/OLD", "--expires-at", "2001-01-01T00:00:00Z")
	s.ok("\xff\x00bin", "set", "p/BINARY", "--raw")
	s.ok("", "set", "pother/NOT_MINE", "x") // shares the prefix "p", not the namespace

	r := s.run("", "export", "--namespace", "p")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "GOOD=good\n", r.stdout)
	assert.Equal(t, ""+
		"ass: warning: export: skipped 2 secrets in subfolders of the namespace: p/sub/DEEP, p/sub/more/DEEPER\n"+
		"ass: warning: export: skipped 2 secrets whose name is not a variable name: p/.hidden, p/1BAD\n"+
		"ass: warning: export: skipped 1 secret that expired: p/OLD (expired 2001-01-01T00:00:00Z)\n"+
		"ass: warning: export: skipped 1 secret whose value is not UTF-8 text without NUL bytes: p/BINARY\n", r.stderr)
}

func TestExportOutputFile(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	s.ok(trickyEnv, "import", "--namespace", "prod")
	s.ok("", "delete", "prod/dotted.name-x") // not a shell name: export warns
	stdout := s.ok("", "export", "--namespace", "prod")

	dir := t.TempDir()
	file := filepath.Join(dir, "prod.env")
	out := s.ok("", "export", "--namespace", "prod", "--output", file)
	assert.Equal(t, "Exported 24 variables from prod to "+file+"\n", out)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, stdout, string(data))
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// Never replaces a file without --force, and leaves it untouched.
	s.ok("", "set", "prod/ADDED", "1")
	stderr := s.fails(exitError, "", "export", "--namespace", "prod", "--output", file)
	assert.Equal(t, "ass: export: "+file+" exists (use --force to replace it)\n", stderr)
	data2, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, data, data2)

	// --force replaces it, again with mode 0600 whatever the old mode.
	require.NoError(t, os.Chmod(file, 0o644))
	assert.Equal(t, "Exported 25 variables from prod to "+file+"\n", s.ok("", "export", "--namespace", "prod", "--output", file, "--force"))
	data3, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Contains(t, string(data3), "ADDED=1\n")
	fi, err = os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// "--output -" is stdout; a relative path works.
	assert.Equal(t, string(data3), s.ok("", "export", "--namespace", "prod", "--output", "-"))

	// Nothing but the file is left in the directory.
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, names, 1)
	assert.Equal(t, "prod.env", names[0].Name())

	// A directory that does not exist.
	stderr = s.fails(exitError, "", "export", "--namespace", "prod", "--output", filepath.Join(dir, "no", "such.env"))
	assert.Contains(t, stderr, "ass: export: open ")
	assert.NotContains(t, stderr, canary)
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	wd := filepath.Join(dir, "rel")
	require.NoError(t, os.Mkdir(wd, 0o700))
	file := filepath.Join(wd, "x.env")
	require.NoError(t, writeFileAtomic(file, []byte("A=1\n"), false))
	err := writeFileAtomic(file, []byte("A=2\n"), false)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists")
	require.NoError(t, writeFileAtomic(file, []byte("A=3\n"), true))
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "A=3\n", string(data))
	// A directory in the way is never replaced.
	require.Error(t, writeFileAtomic(wd, []byte("A=4\n"), true))
	entries, err := os.ReadDir(wd)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files left behind")
}

func TestExportUsageErrors(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	s.init()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"export"}, "export: --namespace is required"},
		{[]string{"export", "--namespace", ""}, "export: invalid --namespace: empty namespace"},
		{[]string{"export", "--namespace", "a", "--namespace", "b"}, "export: flag --namespace given more than once"},
		{[]string{"export", "--namespace", "a", "extra"}, "export: wrong number of arguments: want no arguments"},
		{[]string{"export", "--namespace", "a", "--json"}, "export: --json does not apply"},
		{[]string{"export", "--namespace", "a", "--output"}, "export: flag --output needs a value"},
	} {
		stderr := s.fails(exitUsage, "", tc.args...)
		assert.Contains(t, stderr, tc.want, "ass %q", tc.args)
	}
	help := s.ok("", "help", "export")
	for _, want := range []string{"Usage: ass export [FLAGS]", "--namespace NS", "--output FILE", "--force", "0600", "round-trips"} {
		assert.Contains(t, help, want)
	}
	assert.True(t, strings.HasPrefix(help, "Usage: ass export [FLAGS]\n"))
}

// TestExportSafeToSource: secrets a writer-only principal planted (quotes,
// backticks, $( ), newlines) never run when the export is sourced, and the
// shell reads every value exactly.
func TestExportSafeToSource(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	require.NoError(t, err, "bash is needed for this test")
	s := newSandbox(t)
	s.init()
	values := map[string]string{
		"TICK":    "it's `touch PWNED`",
		"SUBST":   "$(touch PWNED)",
		"DQ":      `"$(touch PWNED)"`,
		"MULTI":   "it's\n`touch PWNED`\n$(touch PWNED)\n",
		"BSLASH":  `a\'\"\` + "`",
		"DOLLARS": "$HOME ${HOME} $$",
	}
	for k, v := range values {
		s.ok(v, "set", "prod/"+k, "--raw")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "prod.env")
	s.ok("", "export", "--namespace", "prod", "--output", file)
	script := "set -a; . ./prod.env; set +a; printf '%s\\0' \"$TICK\" \"$SUBST\" \"$DQ\" \"$MULTI\" \"$BSLASH\" \"$DOLLARS\""
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, "PWNED"), "sourcing the export ran a command")
	assert.Equal(t, []string{values["TICK"], values["SUBST"], values["DQ"], values["MULTI"], values["BSLASH"], values["DOLLARS"], ""},
		strings.Split(string(out), "\x00"))
}
