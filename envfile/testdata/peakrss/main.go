// Command peakrss parses a .env file with envfile.Parse, as "ass import"
// does, and prints the input size and the process's peak resident set
// (VmHWM), for BENCHMARKS.md. With -baseline it only opens the file, to
// show what the Go runtime itself takes.
//
//	go run ./envfile/testdata/peakrss FILE
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/agentvault/agentvault/envfile"
)

func main() {
	baseline := flag.Bool("baseline", false, "open the file but do not parse it")
	flag.Parse()
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var r io.Reader = f
	size := fi.Size()
	counter := &countingReader{r: f}
	if !fi.Mode().IsRegular() {
		r = counter // a pipe: count what is read (Parse cannot see the size)
	}
	entries, dups := 0, 0
	if !*baseline {
		file, err := envfile.Parse(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		entries, dups = len(file.Entries), file.Duplicates
	}
	if !fi.Mode().IsRegular() {
		size = counter.n
	}
	hwm := vmHWM()
	fmt.Printf("input %d bytes, %d entries, %d duplicates, peak RSS %d KiB (%.2fx input)\n",
		size, entries, dups, hwm, float64(hwm*1024)/float64(size))
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// vmHWM returns the peak resident set size in KiB, from /proc/self/status.
func vmHWM() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			var n int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return -1
}
