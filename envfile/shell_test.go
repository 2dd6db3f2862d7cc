package envfile_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
	"github.com/agentvault/agentvault/internal/redistest"
)

// lookShell returns the path of a shell the differential tests need. When
// it is missing the test is skipped, or fails in CI (CI=true or
// AGENTVAULT_REQUIRE_REDIS=1): scripts/install-deps installs it.
func lookShell(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " not found in PATH; run scripts/install-deps"
	if redistest.Required() {
		t.Fatalf("%s (this test may not be skipped in CI)", msg)
	}
	t.Skip(msg)
	return ""
}

// shellValues are values that would run a command or change if a shell
// expanded anything in them; PWNED is a file the commands would create.
var shellValues = []string{
	"it's `touch PWNED`", "$(touch PWNED)", "`touch PWNED`", `"$(touch PWNED)"`, `'$(touch PWNED)'`,
	`\`, `\\`, `a\`, `\'`, `'`, `''`, `'\''`, `"`, `\"`, "$", "$$", "$HOME", "${HOME}", "${X:-$(touch PWNED)}",
	"$'\\x41'", "=ls", "a:=ls", "~", "~root", "a:~", "*", "?", "[a]", "!!", "!$", "#", " #x", "a #x",
	"line1\nline2", "\n", "trailing\n", "a\\\nb", "tab\there", "; touch PWNED", "| touch PWNED", "&& touch PWNED",
	"héllo 🔑", "%1", "^a", "{a,b}", "<(touch PWNED)", ">PWNED", "$((1+1))", "$[1+1]",
}

// shellPieces are the fragments random values are made of.
var shellPieces = []string{
	"`", "$", `"`, "'", `\`, "\n", "$(", ")", "{", "}", "touch PWNED", " ", "\t", "#", "=", ":", "~", "!",
	"*", "?", "[", "]", ";", "&", "|", "<", ">", "a", "Z", "0", "_", "-", "é", "🔑", "%", "^", "'\\''", "\\n",
}

func randomShellValue(r *rand.Rand) string {
	var b strings.Builder
	for n := r.IntN(12); n >= 0; n-- {
		b.WriteString(shellPieces[r.IntN(len(shellPieces))])
	}
	return b.String()
}

// TestFormatShellSafe sources Format's output in real shells (bash, dash,
// zsh) over values full of quotes, backslashes, $, `, $( and newlines:
// each shell must read every value back byte-exact and run nothing. Parse
// must read the same file back exactly too.
func TestFormatShellSafe(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 2))
	values := append([]string{}, shellValues...)
	for range 400 {
		values = append(values, randomShellValue(r))
	}
	entries := make([]envfile.Entry, len(values))
	for i, v := range values {
		entries[i] = envfile.Entry{Key: "V" + strconv.Itoa(i), Value: v, Export: i%3 == 0}
	}
	// The quote style an entry asks for is honoured only where it is safe.
	for i := range entries {
		entries[i].Quote = envfile.QuoteStyle(i % 4)
	}
	out, err := envfile.Format(entries)
	require.NoError(t, err)

	f, err := envfile.ParseString(string(out))
	require.NoError(t, err, "Parse(Format(values))")
	require.Len(t, f.Entries, len(values))
	for i, e := range f.Entries {
		assert.Equal(t, values[i], e.Value, "Parse(Format(%q))", values[i])
	}

	// printf '%s\0' "$V0" "$V1" …: NUL never occurs in a value.
	var script strings.Builder
	script.WriteString(`set -a; . ./vars.env; printf '%s\0'`)
	for i := range values {
		script.WriteString(` "$V` + strconv.Itoa(i) + `"`)
	}
	for _, sh := range []struct {
		name string
		args []string
	}{
		{"bash", []string{"--norc", "--noprofile", "-c"}},
		{"dash", []string{"-c"}},
		{"zsh", []string{"-f", "-c"}},
		{"sh", []string{"-c"}},
	} {
		t.Run(sh.name, func(t *testing.T) {
			path := lookShell(t, sh.name)
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "vars.env"), out, 0o600))
			cmd := exec.Command(path, append(sh.args, script.String())...)
			cmd.Dir = dir
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
			got, err := cmd.Output()
			var stderr string
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			require.NoError(t, err, "%s: sourcing Format's output failed: %s", sh.name, stderr)
			assert.NoFileExists(t, filepath.Join(dir, "PWNED"), "%s ran a command from a value", sh.name)
			fields := strings.Split(string(got), "\x00")
			require.Len(t, fields, len(values)+1, "%s printed the wrong number of values", sh.name)
			for i, v := range values {
				assert.Equal(t, v, fields[i], "%s read %s (quote %v) differently:\n%s", sh.name, entries[i].Key, entries[i].Quote, lineOf(out, entries[i].Key))
			}
		})
	}
}

// TestFormatShellSafeCR: a carriage return can only be written as \r in
// double quotes; a shell reads a backslash and an r there, but still runs
// nothing, and Parse reads the CR back.
func TestFormatShellSafeCR(t *testing.T) {
	sh := lookShell(t, "bash")
	v := "it's `touch PWNED` $(touch PWNED)\r\n"
	out, err := envfile.Format([]envfile.Entry{{Key: "V", Value: v}})
	require.NoError(t, err)
	f, err := envfile.ParseString(string(out))
	require.NoError(t, err)
	assert.Equal(t, v, f.Entries[0].Value)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vars.env"), out, 0o600))
	cmd := exec.Command(sh, "--norc", "-c", `. ./vars.env; printf %s "$V"`)
	cmd.Dir = dir
	got, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, strings.ReplaceAll(v, "\r", `\r`), string(got))
	assert.NoFileExists(t, filepath.Join(dir, "PWNED"))
}

// lineOf returns the start of key's definition in a formatted file, for
// failure messages.
func lineOf(out []byte, key string) string {
	s := string(out)
	i := strings.Index(s, key+"=")
	if i < 0 {
		return ""
	}
	return s[i:min(len(s), i+120)]
}
