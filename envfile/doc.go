// Package envfile parses and writes .env files byte-exactly, keeping file
// order and line numbers, for importing them into agentvault.
//
// Call Parse (or ParseString) first; it returns a *File whose Entries hold
// each variable once, at its last definition ("last definition wins", as in
// a shell), in file order. Format (or File.WriteTo) writes entries back:
// Parse(Format(entries)) always yields the same keys and values.
//
//	f, err := envfile.Parse(r)
//	for _, e := range f.Dedup() {
//		store(e.Key, e.Value) // e.Line says where it came from
//	}
//
// # Grammar
//
// The input is UTF-8, optionally starting with a byte order mark (ignored).
// CRLF line endings are normalised to LF everywhere, including inside
// quoted values; a CR not followed by LF is an error. Blanks are spaces and
// tabs. Each line is one of:
//
//   - blank (only blanks);
//   - a comment: optional blanks, then '#' and anything up to the end of
//     the line;
//   - a definition: optional blanks, an optional "export" prefix (the word
//     followed by blanks), a NAME, optional blanks, '=', optional blanks,
//     and a value.
//
// NAME is [A-Za-z_][A-Za-z0-9_.-]*: a shell identifier, plus '.' and '-'
// after the first character as found in Docker and Spring style files.
// Every name is a valid agentvault path segment (never "." or "..").
// "export" alone is an ordinary name ("export=1").
//
// A value is one of:
//
//   - unquoted: the rest of the line, with blanks trimmed from both ends. A
//     comment starts at the first '#' that follows a blank ("KEY=a #b" is
//     "a", "KEY= #b" is empty, as in a shell); a '#' after any other
//     character is part of the value ("KEY=a#b" is "a#b"). Quotes after
//     the first character and backslashes are literal.
//   - single-quoted: everything up to the next single quote, literally,
//     newlines included. There are no escapes; as in a shell, a closing
//     quote directly followed by an escaped quote (\') and an opening quote
//     continues the value with a single quote (KEY below is "it's").
//   - double-quoted: everything up to the next unescaped double quote,
//     newlines included, with the escapes \n (LF), \r (CR), \t (tab), \"
//     \\, \$ ('$'), \` ('`') and \! ('!'). A backslash before any other
//     character is kept literally together with that character ("C:\Users"
//     stays as it is), as POSIX shells do inside double quotes. \! is the
//     one escape a shell would keep: godotenv.Marshal writes '!' as \!, and
//     every value it writes reads back byte-identical.
//
// Control characters other than NUL and a bare CR (both rejected) are kept
// as they are, in every kind of value.
//
// After a closing quote only blanks and an optional '#' comment may follow
// on that line. An empty value is written in any of these forms:
//
//	KEY=
//	KEY=""
//	KEY=''
//
// and a value with a single quote, in single quotes, as
//
//	KEY='it'\''s'
//
// There is no variable expansion: "$VAR", "${VAR}" and "$(cmd)" are kept
// literally in every kind of value. This is deliberate: secrets must be
// imported byte-exact, and a password containing '$' must not silently
// change depending on the environment of the importing process. Parse never
// reads or modifies the process environment.
//
// A variable defined more than once is kept in Entries at its last
// definition only. Redefinitions are counted (File.Duplicates); the first
// ten get a Warning each, and one more Warning gives the total, so a file
// of millions of duplicates costs no more memory than one definition.
//
// # Limits
//
// Parse reads at most 16 MiB (WithMaxBytes), accepts lines of at most
// 64 KiB (WithMaxLineBytes) and at most 100,000 distinct variables
// (WithMaxEntries), so untrusted input cannot exhaust memory: it
// holds the input once (twice while reading it) plus one Entry (48 bytes)
// and one map slot per distinct variable; see BENCHMARKS.md.
//
// # Threat model
//
// The input is untrusted and its values are secrets. Parsing is bounded,
// never panics (it is fuzzed), has no side effects, and its errors and
// warnings never contain value text: they name the line and, once a name
// and its '=' have been read, the variable. The text of a line that does not
// declare a variable is never echoed, since it may be a stray secret. Entry
// redacts its value when printed, logged or JSON-encoded.
//
// Format's output is safe to source in a POSIX shell (sh, dash, bash,
// zsh) whatever the values hold: nothing in it is expanded or run (values
// are single-quoted, each ' written as in the Grammar), and the shell reads each value
// exactly, except a carriage return, which is written as \r. Names with '.'
// or '-' are not shell names: a shell sourcing such a line takes it for a
// command, so a writer that sources output must leave them out (ass export
// does).
//
// # Errors
//
// Parse returns a *ParseError wrapping ErrSyntax for malformed input
// (invalid name, missing '=', unterminated quote, text after a closing
// quote, invalid UTF-8, NUL, bare CR) or ErrTooLarge for an input or a line
// over its limit. Its Line is where the problem was found: for an
// unterminated quote the last line of the input, the message adding where
// the quote was opened; 0 for an input over the total limit. Read errors
// from the io.Reader are wrapped with %w. Format and File.WriteTo return ErrInvalidEntry for an entry they
// cannot write exactly.
//
// # Concurrency
//
// Parse, ParseString and Format keep no state and are safe for concurrent
// use. A File is a plain value: concurrent reads are safe.
//
// # Compatibility
//
// The grammar follows common .env practice (docker compose, python-dotenv,
// POSIX shell quoting) where they agree, and chooses exactness where they do
// not. DIFFERENCES.md lists every known difference from
// github.com/joho/godotenv v1.5.1, checked by a differential test; every
// file godotenv.Marshal writes reads back with the values it was given
// (another differential test, over random values). godotenv's own fixture
// quoted.env is rejected, by design: it writes \' inside single quotes,
// where a backslash is literal and the quote ends the value; the error
// says how to write the line (DIFFERENCES.md, 5 and 10).
package envfile
