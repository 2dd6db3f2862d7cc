package envfile

import (
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"
	"unicode/utf8"
)

const bom = "\uFEFF"

// Parse reads a .env file from r. It reads at most the total size limit plus
// one byte (see WithMaxBytes), so r may be untrusted.
//
// On success each variable is returned once, at its last definition, in
// file order with its line number (see File). A malformed input returns a
// *ParseError wrapping ErrSyntax or ErrTooLarge; an error from r is
// returned wrapped with %w. Parse never expands variables and never touches
// the process environment.
//
// Parse holds the input once in memory (values are slices of it), plus
// the input again while reading from r, plus one Entry per variable.
func Parse(r io.Reader, opts ...Option) (*File, error) {
	o := newOptions(opts)
	hint := sizeHint(r)
	if o.maxBytes > 0 && o.maxBytes < math.MaxInt64 {
		r = io.LimitReader(r, o.maxBytes+1)
		hint = min(hint, o.maxBytes+1)
	}
	src, err := readAll(r, hint)
	if err != nil {
		return nil, fmt.Errorf("envfile: read: %w", err)
	}
	return parse(src, o)
}

// sizeHint returns how many bytes r holds, if it says (a *strings.Reader,
// *bytes.Reader or *bytes.Buffer, or a regular *os.File), else 0.
func sizeHint(r io.Reader) int64 {
	switch r := r.(type) {
	case interface{ Len() int }:
		return int64(r.Len())
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return 0
}

// readAll reads r to the end into one string of exactly the input's size.
// With a size hint it reads straight into a string of that size; otherwise
// it reads into chunks that grow up to 1 MiB and copies them once, so its
// peak is about twice the input. (io.ReadAll followed by a conversion to
// string would need up to four times.)
func readAll(r io.Reader, hint int64) (string, error) {
	if hint > 0 {
		var b strings.Builder
		b.Grow(int(hint) + 1) // +1: reading EOF needs no growth
		if _, err := io.Copy(&b, r); err != nil {
			return "", err
		}
		return b.String(), nil
	}
	var chunks [][]byte
	total, size := 0, 512
	for {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			chunks = append(chunks, buf[:n])
			total += n
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return "", err
		}
		size = min(2*size, 1<<20)
	}
	var b strings.Builder
	b.Grow(total)
	for i, c := range chunks {
		b.Write(c)
		chunks[i] = nil // let the collector have it
	}
	return b.String(), nil
}

// ParseString is Parse for input already in memory.
func ParseString(s string, opts ...Option) (*File, error) {
	return parse(s, newOptions(opts))
}

func parse(src string, o options) (*File, error) {
	if o.maxBytes > 0 && int64(len(src)) > o.maxBytes {
		return nil, tooLargeErr(0, "input larger than %d bytes", o.maxBytes)
	}
	src = strings.TrimPrefix(src, bom)
	if err := validate(src, o.maxLineBytes); err != nil {
		return nil, err
	}
	if strings.IndexByte(src, '\r') >= 0 {
		// validate has rejected every CR that is not part of a CRLF.
		src = strings.ReplaceAll(src, "\r\n", "\n")
	}
	// Every definition has an '=' and all but the last a newline; the cap
	// keeps a file of "#=" lines from allocating far more than its size.
	n := min(strings.Count(src, "="), strings.Count(src, "\n")+1, 1<<14)
	p := parser{
		src:        src,
		maxEntries: o.maxEntries,
		line:       1,
		file:       &File{Entries: make([]Entry, 0, n)},
		seen:       make(map[string]int, n),
	}
	if err := p.run(); err != nil {
		return nil, err
	}
	p.compact()
	if more := p.file.Duplicates - maxDuplicateWarnings; more > 0 {
		p.file.Warnings = append(p.file.Warnings, Warning{
			Line: p.firstUnlisted,
			Msg:  fmt.Sprintf("%d more duplicate definitions not listed (%d in all)", more, p.file.Duplicates),
		})
	}
	return p.file, nil
}

// validate checks the properties of the raw input that do not depend on the
// grammar, line by line: length, no bare CR, no NUL, valid UTF-8.
func validate(src string, maxLine int) error {
	for line, rest := 1, src; ; line++ {
		l, next, found := strings.Cut(rest, "\n")
		if found {
			l = strings.TrimSuffix(l, "\r")
		}
		switch {
		case maxLine > 0 && len(l) > maxLine:
			return tooLargeErr(line, "line longer than %d bytes", maxLine)
		case strings.IndexByte(l, '\r') >= 0:
			return syntaxErr(line, "", "carriage return not followed by a line feed")
		case strings.IndexByte(l, 0) >= 0:
			return syntaxErr(line, "", "NUL byte")
		case !utf8.ValidString(l):
			return syntaxErr(line, "", "invalid UTF-8")
		}
		if !found {
			return nil
		}
		rest = next
	}
}

// parser walks validated, LF-only input. pos always stays on the line
// numbered line.
type parser struct {
	src        string
	maxEntries int // 0: no limit
	pos        int
	line       int
	file       *File
	seen       map[string]int // key -> index in file.Entries of its latest definition
	// dead counts the entries of file.Entries overridden by a later
	// definition (their Key is ""), removed by compact.
	dead          int
	firstUnlisted int // line of the first duplicate without its own warning
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func (p *parser) skipBlanks() {
	for p.pos < len(p.src) && isBlank(p.src[p.pos]) {
		p.pos++
	}
}

// toEOL moves pos to the end of the current line (its '\n' or the end of
// input) and returns that position.
func (p *parser) toEOL() int {
	if i := strings.IndexByte(p.src[p.pos:], '\n'); i >= 0 {
		p.pos += i
	} else {
		p.pos = len(p.src)
	}
	return p.pos
}

func (p *parser) atEOL() bool { return p.pos == len(p.src) || p.src[p.pos] == '\n' }

func (p *parser) run() error {
	for p.pos < len(p.src) {
		p.skipBlanks()
		switch {
		case p.pos == len(p.src):
		case p.src[p.pos] == '\n':
			p.pos++
			p.line++
		case p.src[p.pos] == '#':
			p.toEOL()
		default:
			if err := p.entry(); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry parses one definition starting at a non-blank character and leaves
// pos at the end of its last line.
func (p *parser) entry() error {
	e := Entry{Line: p.line}
	if rest := p.src[p.pos:]; strings.HasPrefix(rest, "export") && len(rest) > 6 && isBlank(rest[6]) {
		// "export NAME=...", unless "export" is itself the name ("export =1").
		save := p.pos
		p.pos += 6
		p.skipBlanks()
		if p.atEOL() || p.src[p.pos] == '=' {
			p.pos = save
		} else {
			e.Export = true
		}
	}

	start := p.pos
	if !isKeyStart(p.src[p.pos]) {
		return syntaxErr(p.line, "", "invalid variable name")
	}
	for p.pos++; p.pos < len(p.src) && isKeyChar(p.src[p.pos]); p.pos++ {
	}
	if !p.atEOL() && !isBlank(p.src[p.pos]) && p.src[p.pos] != '=' {
		return syntaxErr(p.line, "", "invalid variable name")
	}
	keyEnd := p.pos
	p.skipBlanks()
	if p.atEOL() || p.src[p.pos] != '=' {
		// The "name" is not quoted: a lone word may be a pasted secret.
		return syntaxErr(p.line, "", "missing '=' after variable name")
	}
	e.Key = p.src[start:keyEnd]
	p.pos++ // '='
	afterEq := p.pos
	p.skipBlanks()

	var err error
	switch {
	case p.atEOL():
		e.Quote = QuoteNone
	case p.src[p.pos] == '\'':
		e.Quote = QuoteSingle
		e.Value, err = p.singleQuoted(e.Key, e.Line)
	case p.src[p.pos] == '"':
		e.Quote = QuoteDouble
		e.Value, err = p.doubleQuoted(e.Key, e.Line)
	default:
		e.Quote = QuoteNone
		e.Value = p.unquoted(afterEq)
	}
	if err != nil {
		return err
	}
	if e.Quote != QuoteNone {
		if err := p.afterQuote(e.Key); err != nil {
			if e.Quote == QuoteSingle && strings.HasSuffix(e.Value, `\`) {
				// 'it\'s': the rule broken, and how to write the line.
				return syntaxErr(p.line, e.Key, `unexpected text after the closing quote of %s: inside single quotes a backslash is literal, so \' ends the value; write a single quote as '\'' ('it'\''s') or use double quotes ("it's")`, e.Key)
			}
			return err
		}
	}
	return p.add(e)
}

// unquoted returns the rest of the line from afterEq (just past '='),
// stopping at an inline comment (blank then '#'), trimmed of blanks.
func (p *parser) unquoted(afterEq int) string {
	seg := p.src[afterEq:p.toEOL()]
	for i := 1; i < len(seg); i++ {
		if seg[i] == '#' && isBlank(seg[i-1]) {
			seg = seg[:i]
			break
		}
	}
	return strings.Trim(seg, " \t")
}

// singleQuoted reads a literal value from the opening quote at pos to the
// next single quote, across lines. As in a shell, a closing quote directly
// followed by an escaped quote (\') and an opening quote continues the value
// with a single quote:
//
//	'it'\''s'
func (p *parser) singleQuoted(key string, opened int) (string, error) {
	var b strings.Builder // used only when the value continues after '\''
	for {
		body := p.src[p.pos+1:]
		end := strings.IndexByte(body, '\'')
		if end < 0 {
			return "", p.unterminated("single", key, opened)
		}
		v := body[:end]
		p.line += strings.Count(v, "\n")
		p.pos += end + 2
		if !strings.HasPrefix(p.src[p.pos:], `\''`) {
			if b.Len() == 0 {
				return v, nil
			}
			b.WriteString(v)
			return b.String(), nil
		}
		b.WriteString(v)
		b.WriteByte('\'')
		p.pos += 2 // to the quote that opens the next part
	}
}

// doubleQuoted reads a value from the opening quote at pos to the next
// unescaped double quote, across lines, decoding \n \r \t \" \\ \$ \` \! and
// keeping any other backslash literally.
func (p *parser) doubleQuoted(key string, opened int) (string, error) {
	var b strings.Builder
	i := p.pos + 1
	seg := i // start of the not yet copied run
	line := p.line
	for i < len(p.src) {
		c := p.src[i]
		switch c {
		case '"':
			v := p.src[seg:i]
			if b.Len() > 0 {
				b.WriteString(v)
				v = b.String()
			}
			p.pos, p.line = i+1, line
			return v, nil
		case '\n':
			line++
		case '\\':
			if i+1 == len(p.src) {
				i++
				continue
			}
			var r byte
			switch p.src[i+1] {
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case '"', '\\', '$', '`', '!': // \!: as godotenv.Marshal writes '!'
				r = p.src[i+1]
			default:
				i++ // keep the backslash; the next character is ordinary
				continue
			}
			b.WriteString(p.src[seg:i])
			b.WriteByte(r)
			i += 2
			seg = i
			continue
		}
		i++
	}
	return "", p.unterminated("double", key, opened)
}

// unterminated reports a quote still open at the end of input, on the last
// line of the input (a final newline does not start another line).
func (p *parser) unterminated(kind, key string, opened int) error {
	last := p.line + strings.Count(strings.TrimSuffix(p.src[p.pos:], "\n"), "\n")
	msg := fmt.Sprintf("unterminated %s quote in value of %s", kind, key)
	if last != opened {
		msg += fmt.Sprintf(" (opened at line %d)", opened)
	}
	return &ParseError{Line: last, Key: key, Msg: msg, Err: ErrSyntax}
}

// afterQuote accepts only blanks and an optional comment after a closing
// quote.
func (p *parser) afterQuote(key string) error {
	p.skipBlanks()
	switch {
	case p.atEOL():
	case p.src[p.pos] == '#':
		p.toEOL()
	default:
		return syntaxErr(p.line, key, "unexpected text after the closing quote of %s", key)
	}
	return nil
}

// maxDuplicateWarnings is how many redefinitions Parse reports one by one;
// one more warning counts the rest.
const maxDuplicateWarnings = 10

// add appends e, dropping an earlier definition of the same key: a
// redefinition costs O(1) time and no memory beyond its warning, of which
// only the first maxDuplicateWarnings are kept.
func (p *parser) add(e Entry) error {
	i, ok := p.seen[e.Key]
	if !ok && p.maxEntries > 0 && len(p.seen) >= p.maxEntries {
		return tooLargeErr(e.Line, "more than %d variables", p.maxEntries)
	}
	if ok {
		f := p.file
		f.Duplicates++
		if f.Duplicates <= maxDuplicateWarnings {
			f.Warnings = append(f.Warnings, Warning{
				Line: e.Line,
				Key:  e.Key,
				Msg:  fmt.Sprintf("duplicate variable %s overrides the definition at line %d", e.Key, f.Entries[i].Line),
			})
		} else if f.Duplicates == maxDuplicateWarnings+1 {
			p.firstUnlisted = e.Line
		}
		f.Entries[i] = Entry{Line: f.Entries[i].Line} // dead: Key ""
		p.dead++
		if p.dead > len(f.Entries)/2 {
			p.compact()
		}
	}
	p.seen[e.Key] = len(p.file.Entries)
	p.file.Entries = append(p.file.Entries, e)
	return nil
}

// compact removes the dead entries and renumbers seen.
func (p *parser) compact() {
	if p.dead == 0 {
		return
	}
	live := p.file.Entries[:0]
	for _, e := range p.file.Entries {
		if e.Key != "" {
			p.seen[e.Key] = len(live)
			live = append(live, e)
		}
	}
	clear(p.file.Entries[len(live):])
	p.file.Entries = live
	p.dead = 0
}
