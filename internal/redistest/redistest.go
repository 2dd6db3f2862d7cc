// Package redistest starts real Redis servers for tests: a single node
// (StartServer), a Cluster of several masters (StartCluster), or a master
// watched by a Sentinel (StartSentinel).
//
// Every server listens on a free loopback port (never 6379), keeps its
// files in a t.TempDir(), and is killed when the test ends. Persistence is
// off unless a test asks for it with WithPersistence.
//
// The binaries (redis-server, redis-cli, redis-sentinel) are found in PATH.
// When one is missing the test is skipped with a message pointing at
// scripts/install-deps, except in CI (CI=true) or when
// AGENTVAULT_REQUIRE_REDIS=1, where it fails: a Redis test must never pass
// vacuously there.
//
// The helpers are safe to call from parallel tests; each call starts its own
// processes.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvRequire is the environment variable that, set to 1, turns a missing
// Redis binary into a test failure instead of a skip (as CI=true does).
const EnvRequire = "AGENTVAULT_REQUIRE_REDIS"

// readyTimeout bounds how long a server may take to answer PING.
const readyTimeout = 15 * time.Second

// An Option changes how StartServer, StartCluster and StartSentinel
// configure their redis-server processes. Without options a server has no
// password and no persistence.
type Option func(*config)

type config struct {
	persist  bool
	password string
	args     []string
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithPersistence turns on the append-only file with an fsync per write
// (appendonly yes, appendfsync always), so that data survives Stop and
// Restart. Default: no persistence (save "", appendonly no).
func WithPersistence() Option { return func(c *config) { c.persist = true } }

// WithPassword makes the server require password (requirepass) for the
// default user. Server.Password reports it. Default: no password.
func WithPassword(password string) Option { return func(c *config) { c.password = password } }

// WithArgs appends raw redis-server command-line arguments, such as
// "--maxmemory", "10mb". Default: none.
func WithArgs(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Required reports whether a missing Redis binary must fail the test rather
// than skip it: in CI (CI=true) or when AGENTVAULT_REQUIRE_REDIS=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv(EnvRequire) == "1"
}

// LookBinary returns the path of the named Redis binary. When it is missing
// it skips the test, or fails it when Required reports true.
func LookBinary(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("redistest: %s not found in PATH; run scripts/install-deps to install Redis", name)
	if Required() {
		tb.Fatalf("%s (this test may not be skipped: CI=true or %s=1)", msg, EnvRequire)
	}
	tb.Skip(msg)
	return ""
}

// Server is one redis-server (or redis-sentinel) process started by a test.
// Its methods are safe for concurrent use; they report failures through the
// test that started the server.
type Server struct {
	// Addr is the server's "127.0.0.1:PORT" address.
	Addr string
	// Port is the TCP port of Addr.
	Port int
	// Dir is the server's working directory (data files, log, config).
	Dir string
	// Password is the password the server requires, or "".
	Password string

	tb   testing.TB
	bin  string
	args []string // everything after the binary

	mu   sync.Mutex
	proc *process
}

type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{} // closed when the process has exited
}

// StartServer starts a standalone redis-server on a free loopback port, in a
// fresh temporary directory, and waits until it answers PING. The server is
// killed when the test ends.
func StartServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin := LookBinary(tb, "redis-server")
	c := newConfig(opts)
	dir := tb.TempDir()
	return startWithRetry(tb, bin, dir, c.password, func(port int) []string {
		return serverArgs(port, dir, c)
	})
}

// serverArgs is the redis-server command line for a server on port in dir.
func serverArgs(port int, dir string, c config) []string {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
		"--save", "",
	}
	if c.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if c.password != "" {
		args = append(args, "--requirepass", c.password)
	}
	return append(args, c.args...)
}

// startWithRetry starts bin on a free port, trying a few ports in case one
// is taken between choosing it and binding it.
func startWithRetry(tb testing.TB, bin, dir, password string, argsFor func(port int) []string) *Server {
	tb.Helper()
	var lastErr error
	for range 5 {
		port := FreePort(tb)
		s := &Server{
			Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Port:     port,
			Dir:      dir,
			Password: password,
			tb:       tb,
			bin:      bin,
			args:     argsFor(port),
		}
		err := s.start()
		if err == nil {
			tb.Cleanup(s.kill)
			return s
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	tb.Fatalf("redistest: start %s: %v", filepath.Base(bin), lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

// start runs the process and waits until it answers PING.
func (s *Server) start() error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p := &process{cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()

	if err := waitReady(s.Addr, s.Password, p.done); err != nil {
		s.kill()
		tail := s.logTail()
		if strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("port %d: %w", s.Port, errAddrInUse)
		}
		return fmt.Errorf("%s not ready: %v; log:\n%s", s.Addr, err, tail)
	}
	return nil
}

// waitReady polls PING until the server answers PONG, the process exits, or
// readyTimeout passes.
func waitReady(addr, password string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("process exited")
		default:
		}
		reply, err := Do(addr, password, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		lastErr = err
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG within %v (last error: %v)", readyTimeout, lastErr)
}

// logTail returns the end of the server's log.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// kill stops the process with SIGKILL and waits for it to exit.
func (s *Server) kill() {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop kills the server with SIGKILL, like a crash, and waits until it has
// exited. What it keeps depends on WithPersistence. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	s.kill()
}

// Restart starts the server again on the same port with the same data
// directory (stopping it first if it is running) and waits until it answers
// PING, which with persistence means it has loaded its data.
func (s *Server) Restart() {
	s.tb.Helper()
	s.kill()
	var err error
	for range 50 { // the port may linger briefly after a kill
		if err = s.start(); err == nil || !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("redistest: restart %s: %v", s.Addr, err)
	}
}

// Pause freezes the server with SIGSTOP: connections stay open but nothing
// is answered, as with a hung or partitioned server. Resume undoes it.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a server frozen by Pause.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	if p == nil {
		s.tb.Fatalf("redistest: %s is not running", s.Addr)
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: signal %s: %v", s.Addr, err)
	}
}

// Do sends one command to the server and returns its reply (see the
// package-level Do).
func (s *Server) Do(args ...string) (any, error) {
	return Do(s.Addr, s.Password, args...)
}

// Client returns a go-redis client for the server, closed when the test
// ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{
		Addr:        s.Addr,
		Password:    s.Password,
		DialTimeout: 2 * time.Second,
	})
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// FreePort returns a loopback TCP port that was free a moment ago and that
// this process has not handed out before. It never returns Redis's
// well-known ports (6379, 16379, 26379).
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port == 6379 || port == 16379 || port == 26379 {
			continue
		}
		portsMu.Lock()
		used := ports[port]
		ports[port] = true
		portsMu.Unlock()
		if !used {
			return port
		}
	}
	tb.Fatalf("redistest: no free port found")
	return 0
}

// Do sends one command to the Redis server at addr over a fresh connection
// (authenticating first when password is set) and returns the reply:
// a string for simple and bulk strings, an int64, nil, or a []any for
// arrays. An error reply is returned as an error. It is a tiny RESP2 client
// for readiness checks, independent of go-redis.
func Do(addr, password string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := roundTrip(conn, r, "AUTH", password); err != nil {
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return roundTrip(conn, r, args...)
}

func roundTrip(conn net.Conn, r *bufio.Reader, args ...string) (any, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&buf, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return nil, err
	}
	return readReply(r)
}

// ReplyError is an error reply from the server, such as "LOADING ...".
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redistest: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			v, err := readReply(r)
			if err != nil {
				var re ReplyError
				if !errors.As(err, &re) {
					return nil, err
				}
				v = re
			}
			out[i] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("redistest: unexpected reply %q", line)
	}
}

// waitFor polls cond every 20ms until it returns nil or timeout passes, and
// returns cond's last error.
func waitFor(ctx context.Context, timeout time.Duration, cond func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(20 * time.Millisecond):
		}
	}
}
