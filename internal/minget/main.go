// Command minget reads one secret from an ass vault ($ASS_HOME) linking only
// the root module: the baseline of "ass get" in BENCHMARKS.md.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentvault/agentvault"
	"github.com/agentvault/agentvault/backend/filebackend"
	"github.com/agentvault/agentvault/kms/localkms"
)

func main() {
	home := os.Getenv("ASS_HOME")
	fb, err := filebackend.Open(filepath.Join(home, "store"))
	if err != nil {
		panic(err)
	}
	k, err := localkms.LoadFile(filepath.Join(home, "key"))
	if err != nil {
		panic(err)
	}
	host, _ := os.Hostname()
	v, err := agentvault.Open(fb, k, agentvault.WithAuditWriterID("min-"+host))
	if err != nil {
		panic(err)
	}
	s, err := v.GetSecret(context.Background(), os.Args[1])
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Value.Reveal())
	v.Close()
}
