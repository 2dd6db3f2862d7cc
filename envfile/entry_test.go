package envfile_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentvault/agentvault/envfile"
)

func TestEntryRedacts(t *testing.T) {
	e := envfile.Entry{Key: "PW", Value: secret, Line: 3, Quote: envfile.QuoteDouble}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		got := fmt.Sprintf(verb, e)
		assert.NotContains(t, got, secret, "Sprintf(%q, entry) leaks the value", verb)
		assert.Contains(t, got, "PW", "Sprintf(%q, entry)", verb)
	}
	assert.Equal(t, "PW=[REDACTED]", e.String())
	assert.Equal(t, `envfile.Entry{Key:"PW", Value:[REDACTED], Line:3, Export:false, Quote:double}`, fmt.Sprintf("%#v", e))

	f := &envfile.File{Entries: []envfile.Entry{e}}
	for _, verb := range []string{"%v", "%+v", "%#v"} {
		assert.NotContains(t, fmt.Sprintf(verb, f), secret, "Sprintf(%q, file) leaks the value", verb)
	}

	b, err := json.Marshal(f)
	require.NoError(t, err)
	assert.NotContains(t, string(b), secret)
	assert.JSONEq(t, `{"Entries":[{"key":"PW","value":"[REDACTED]","line":3,"export":false,"quote":"double"}],"Warnings":null}`, string(b))

	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("imported", "entry", e)
	assert.NotContains(t, buf.String(), secret)
	assert.Contains(t, buf.String(), "entry.key=PW")
}

func TestQuoteStyleString(t *testing.T) {
	assert.Equal(t, "auto", envfile.QuoteAuto.String())
	assert.Equal(t, "none", envfile.QuoteNone.String())
	assert.Equal(t, "single", envfile.QuoteSingle.String())
	assert.Equal(t, "double", envfile.QuoteDouble.String())
	assert.Equal(t, "QuoteStyle(9)", envfile.QuoteStyle(9).String())
}

func TestMapAndDedup(t *testing.T) {
	f, err := envfile.ParseString("A=1\nB=2\nA=3\nC=4\nB=5\n")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "3", "B": "5", "C": "4"}, f.Map())
	got := f.Dedup()
	var keys []string
	for _, e := range got {
		keys = append(keys, fmt.Sprintf("%s=%s@%d", e.Key, e.Value, e.Line))
	}
	assert.Equal(t, []string{"A=3@3", "C=4@4", "B=5@5"}, keys)
	assert.Len(t, f.Entries, 5, "Dedup must not modify the file")
	assert.Len(t, f.Warnings, 2)
	assert.Equal(t, "envfile: line 3: duplicate variable A overrides the definition at line 1", f.Warnings[0].String())

	var zero envfile.File
	assert.Empty(t, zero.Map())
	assert.Empty(t, zero.Dedup())
}

func TestValidKey(t *testing.T) {
	for _, k := range []string{"A", "_", "a", "A_1", "a.b", "a-b", "_.-", "spring.datasource.url"} {
		assert.True(t, envfile.ValidKey(k), "ValidKey(%q)", k)
	}
	for _, k := range []string{"", "1A", ".", "..", "-a", ".a", "a b", "a/b", "a=b", "a:b", "é", "A$"} {
		assert.False(t, envfile.ValidKey(k), "ValidKey(%q)", k)
	}
}
