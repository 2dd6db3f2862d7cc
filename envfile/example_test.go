package envfile_test

import (
	"fmt"
	"os"

	"github.com/agentvault/agentvault/envfile"
)

func ExampleParseString() {
	f, err := envfile.ParseString(`# database
export DB_HOST=db.internal # primary
DB_PASS='pa$$word'
TLS_KEY="-----BEGIN KEY-----
MIIB...
-----END KEY-----"
DB_HOST=db2.internal
`)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range f.Dedup() {
		fmt.Printf("line %d: %s = %q\n", e.Line, e.Key, e.Value)
	}
	for _, w := range f.Warnings {
		fmt.Println(w)
	}
	fmt.Println(f.Entries[0]) // printing an Entry never shows its value
	// Output:
	// line 3: DB_PASS = "pa$$word"
	// line 4: TLS_KEY = "-----BEGIN KEY-----\nMIIB...\n-----END KEY-----"
	// line 7: DB_HOST = "db2.internal"
	// envfile: line 7: duplicate variable DB_HOST overrides the definition at line 2
	// DB_PASS=[REDACTED]
}

func ExampleParseString_error() {
	_, err := envfile.ParseString("A=1\nDB_PASS=\"unterminated\n\n")
	fmt.Println(err)
	// Output:
	// envfile: line 3: unterminated double quote in value of DB_PASS (opened at line 2)
}

func ExampleFormat() {
	out, err := envfile.Format([]envfile.Entry{
		{Key: "PLAIN", Value: "abc123"},
		{Key: "SPACES", Value: "two words", Export: true},
		{Key: "DOLLAR", Value: "$HOME is literal"},
		{Key: "QUOTE", Value: `it's "quoted"`},
		{Key: "MULTI", Value: "line 1\nline 2"},
		{Key: "EMPTY"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	os.Stdout.Write(out)
	// Output:
	// PLAIN=abc123
	// export SPACES='two words'
	// DOLLAR='$HOME is literal'
	// QUOTE='it'\''s "quoted"'
	// MULTI='line 1
	// line 2'
	// EMPTY=
}
