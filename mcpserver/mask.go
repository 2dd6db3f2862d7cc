package mcpserver

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// masker replaces the injected values, and their common encodings, in a
// command's output by [REDACTED:NAME]. It is a second line of defence: a
// command can always print a value in a form not listed here (reversed,
// split, another encoding), so the allowlist of commands is the control.
type masker struct {
	forms []maskForm // longest first, so a form containing another wins
	max   int        // length of the longest form
}

type maskForm struct {
	text []byte
	repl []byte
}

// newMasker builds the forms of each value: as is, base64 (standard and
// URL alphabets, padded and not), hex (lower and upper case) and
// URL-encoded (query and path escaping). Empty values are skipped.
func newMasker(values map[string]string) *masker {
	m := &masker{}
	seen := map[string]bool{}
	for name, v := range values {
		if v == "" {
			continue
		}
		b := []byte(v)
		repl := []byte("[REDACTED:" + name + "]")
		for _, f := range []string{
			v,
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
			hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
			url.QueryEscape(v), url.PathEscape(v),
		} {
			if seen[f] {
				continue
			}
			seen[f] = true
			m.forms = append(m.forms, maskForm{text: []byte(f), repl: repl})
			m.max = max(m.max, len(f))
		}
	}
	sort.SliceStable(m.forms, func(i, j int) bool { return len(m.forms[i].text) > len(m.forms[j].text) })
	return m
}

// mask returns b with every form replaced, scanning left to right; only
// text starting before limit is kept (a form starting before limit is
// replaced whole even if it ends after it). b must hold limit+m.max bytes
// when it was cut, so that no form starting before limit is cut short.
func (m *masker) mask(b []byte, limit int) []byte {
	out := make([]byte, 0, min(len(b), limit)+64)
	for i := 0; i < len(b) && i < limit; {
		if f := m.at(b[i:]); f != nil {
			out = append(out, f.repl...)
			i += len(f.text)
			continue
		}
		out = append(out, b[i])
		i++
	}
	return out
}

// at returns the longest form b starts with, or nil.
func (m *masker) at(b []byte) *maskForm {
	for i := range m.forms {
		if bytes.HasPrefix(b, m.forms[i].text) {
			return &m.forms[i]
		}
	}
	return nil
}
