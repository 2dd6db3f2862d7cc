// Package pgtest starts a throwaway PostgreSQL server for tests: a fresh
// cluster made with initdb in a temporary directory, served by postgres on a
// free loopback port (never 5432), and removed when the test ends.
//
// The binaries come from Debian's postgresql package
// (/usr/lib/postgresql/<major>/bin, newest major first) or from PATH. When
// the tests run as root, the server runs as the "postgres" system user that
// the package creates (PostgreSQL refuses to run as root).
//
// When PostgreSQL is missing the test is skipped with a message pointing at
// scripts/install-deps, except in CI (CI=true) or when
// AGENTVAULT_REQUIRE_POSTGRES=1, where it fails: a PostgreSQL test must never
// pass vacuously there.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvRequire is the environment variable that, set to 1, turns a missing
// PostgreSQL installation into a test failure instead of a skip (as CI=true
// does).
const EnvRequire = "AGENTVAULT_REQUIRE_POSTGRES"

// User and Database are the role and database every server is made with.
// The role is a superuser authenticated by password (Password).
const (
	User     = "agentvault"
	Database = "agentvault"
	Password = "pgtest-password"
)

// Server is a running PostgreSQL server.
type Server struct {
	Addr string // 127.0.0.1:port

	bin  string
	dir  string // base directory (data lives in dir/data)
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// URL returns a connection URL for the server's database, with the password
// in it.
func (s *Server) URL() string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", User, Password, s.Addr, Database)
}

// URLWithoutPassword returns the URL without the password (for tests of
// PGPASSWORD and of error messages).
func (s *Server) URLWithoutPassword() string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", User, s.Addr, Database)
}

// Required reports whether a missing server must fail the test.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv(EnvRequire) == "1"
}

// binDir finds the directory holding initdb and postgres.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, no initdb in PATH): run scripts/install-deps")
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// unavailable skips or fails the test.
func unavailable(t testing.TB, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("pgtest: %v", err)
	}
	t.Skipf("pgtest: %v", err)
}

// Start starts a server for the test and stops it (removing its files) when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := StartServer()
	if err != nil {
		if errors.Is(err, errUnavailable) {
			unavailable(t, err)
		}
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

var errUnavailable = errors.New("PostgreSQL is not installed")

// StartServer starts a server that the caller must Stop (for TestMain,
// where there is no testing.TB). An error wrapping a "not installed" cause
// means PostgreSQL is missing; see Required.
func StartServer() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnavailable, err)
	}
	base, err := os.MkdirTemp("", "agentvault-pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, dir: base, log: &bytes.Buffer{}, done: make(chan struct{})}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(base)
			return nil, fmt.Errorf("%w: running as root needs the \"postgres\" system user (from Debian's postgresql package): %v", errUnavailable, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			os.RemoveAll(base)
			return nil, err
		}
		// MkdirTemp makes the directory 0700; the server user owns it now.
	}
	pwfile := filepath.Join(base, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o600); err != nil {
		s.cleanup()
		return nil, err
	}
	if s.cred != nil {
		_ = os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid))
	}
	initdb := s.command(filepath.Join(bin, "initdb"), "-D", filepath.Join(base, "data"), "-U", User,
		"--pwfile", pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.start(); err != nil {
		s.cleanup()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	createdb := s.command(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", s.port(), "-U", User, Database)
	createdb.Env = append(os.Environ(), "PGPASSWORD="+Password)
	for {
		out, err := createdb.CombinedOutput()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("createdb: %v\n%s\nserver log:\n%s", err, out, s.log)
		}
		time.Sleep(100 * time.Millisecond)
		createdb = s.command(createdb.Path, createdb.Args[1:]...)
		createdb.Env = append(os.Environ(), "PGPASSWORD="+Password)
	}
	return s, nil
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func (s *Server) port() string {
	_, p, _ := net.SplitHostPort(s.Addr)
	return p
}

// start runs postgres on a free port (or the port it had, on a restart).
func (s *Server) start() error {
	if s.Addr == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
	s.done = make(chan struct{})
	cmd := s.command(filepath.Join(s.bin, "postgres"), "-D", filepath.Join(s.dir, "data"),
		"-p", s.port(), "-k", s.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("postgres exited at start:\n%s", s.log)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("postgres did not listen on %s within 30 s:\n%s", s.Addr, s.log)
}

// Kill stops the server abruptly (SIGKILL on the postmaster), as a crash
// would. Restart brings it back on the same port with the same data.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.cmd = nil
	// Children of a killed postmaster exit on their own once they notice;
	// wait until the port is free again.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart starts a stopped or killed server again.
func (s *Server) Restart() error {
	// A killed postmaster leaves postmaster.pid; postgres removes a stale one itself.
	for i := 0; ; i++ {
		err := s.start()
		if err == nil || i == 20 {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Stop shuts the server down (fast shutdown) and removes its files.
func (s *Server) Stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		s.cmd = nil
	}
	s.cleanup()
}

func (s *Server) cleanup() {
	if strings.Contains(s.dir, "agentvault-pgtest-") {
		os.RemoveAll(s.dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
