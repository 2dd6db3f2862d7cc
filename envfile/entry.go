package envfile

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
)

// QuoteStyle is how a value is (or is to be) quoted in a .env file.
type QuoteStyle uint8

// Quote styles. Parse sets QuoteNone, QuoteSingle or QuoteDouble to what the
// file used. Format honours an entry's style when that style can represent
// the value exactly, and chooses otherwise; QuoteAuto, the zero value, always
// lets Format choose.
const (
	QuoteAuto   QuoteStyle = iota // let Format choose (never set by Parse)
	QuoteNone                     // KEY=value
	QuoteSingle                   // KEY='value'
	QuoteDouble                   // KEY="value"
)

// String returns "auto", "none", "single" or "double".
func (q QuoteStyle) String() string {
	switch q {
	case QuoteAuto:
		return "auto"
	case QuoteNone:
		return "none"
	case QuoteSingle:
		return "single"
	case QuoteDouble:
		return "double"
	}
	return "QuoteStyle(" + strconv.Itoa(int(q)) + ")"
}

// Entry is one variable definition.
//
// Value holds the plaintext. Printing an Entry with any fmt verb, logging it
// with log/slog or encoding it with encoding/json shows the key and line but
// replaces the value with [REDACTED]; read e.Value explicitly to get it.
// The zero value is an entry with an empty (invalid) key.
type Entry struct {
	Key    string     // variable name, see ValidKey
	Value  string     // the value, byte-exact: quotes removed, escapes decoded, no expansion
	Line   int        // 1-based line the definition starts on; 0 for entries not read by Parse
	Export bool       // the line started with "export "
	Quote  QuoteStyle // how the value was quoted
}

const redacted = "[REDACTED]"

// String returns "KEY=[REDACTED]"; it never shows the value.
func (e Entry) String() string { return e.Key + "=" + redacted }

// GoString is like String, in Go syntax; it never shows the value.
func (e Entry) GoString() string {
	return fmt.Sprintf("envfile.Entry{Key:%q, Value:%s, Line:%d, Export:%t, Quote:%v}",
		e.Key, redacted, e.Line, e.Export, e.Quote)
}

// Format implements fmt.Formatter so that every verb redacts the value:
// %#v prints GoString, every other verb String.
func (e Entry) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('#') {
		fmt.Fprint(s, e.GoString())
		return
	}
	fmt.Fprint(s, e.String())
}

// LogValue implements slog.LogValuer; the value is redacted.
func (e Entry) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", e.Key),
		slog.String("value", redacted),
		slog.Int("line", e.Line),
	)
}

// MarshalJSON encodes the entry with its value redacted.
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key    string `json:"key"`
		Value  string `json:"value"`
		Line   int    `json:"line"`
		Export bool   `json:"export"`
		Quote  string `json:"quote"`
	}{e.Key, redacted, e.Line, e.Export, e.Quote.String()})
}

// Warning reports something Parse accepted but the caller should know
// about: today, a variable defined more than once (or, past the tenth, how
// many more). It never contains a value.
type Warning struct {
	Line int    // 1-based line of the definition the warning is about
	Key  string // the variable concerned; "" for the count of further duplicates
	Msg  string // e.g. "duplicate variable A overrides the definition at line 3"
}

// String returns "envfile: line N: " followed by w.Msg.
func (w Warning) String() string {
	return "envfile: line " + strconv.Itoa(w.Line) + ": " + w.Msg
}

// File is the result of Parse: each variable once, and the warnings found
// on the way.
//
// Parse applies "last definition wins", as a shell sourcing the file
// would: Entries holds each variable's last definition, in file order (of
// those last definitions), with its line. A redefinition is counted in
// Duplicates and costs no memory: only the first ten get a Warning each
// (naming both lines), and one more Warning gives the total. Map and Dedup
// apply the same rule to a File built by hand. The zero value is an empty
// file. A File is a plain value: it is safe for concurrent reads, not for
// concurrent modification.
type File struct {
	Entries    []Entry
	Warnings   []Warning
	Duplicates int // number of redefinitions Parse dropped from Entries
}

// Map returns the variables as a map; when a key is defined more than once
// the last definition wins.
func (f *File) Map() map[string]string {
	m := make(map[string]string, len(f.Entries))
	for _, e := range f.Entries {
		m[e.Key] = e.Value
	}
	return m
}

// Dedup returns one entry per key: its last definition, at the position of
// that last definition. Order is otherwise file order. f is not modified.
func (f *File) Dedup() []Entry {
	last := make(map[string]int, len(f.Entries))
	for i, e := range f.Entries {
		last[e.Key] = i
	}
	out := make([]Entry, 0, len(last))
	for i, e := range f.Entries {
		if last[e.Key] == i {
			out = append(out, e)
		}
	}
	return out
}

// ValidKey reports whether key is a valid variable name: an ASCII letter or
// '_' followed by any number of ASCII letters, digits, '_', '.' or '-'. Such
// a name is always a valid agentvault path segment.
func ValidKey(key string) bool {
	if key == "" || !isKeyStart(key[0]) {
		return false
	}
	for i := 1; i < len(key); i++ {
		if !isKeyChar(key[i]) {
			return false
		}
	}
	return true
}

func isKeyStart(c byte) bool {
	return c == '_' || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

func isKeyChar(c byte) bool {
	return isKeyStart(c) || ('0' <= c && c <= '9') || c == '.' || c == '-'
}
