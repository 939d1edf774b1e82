// Package harness runs Omen's built collector and the real services around it (Prometheus, and
// whatever later tests need) as child processes on free loopback ports, for end-to-end tests.
//
// Every process it starts is stopped when the test ends, every wait is bounded, and the logs of
// every process are printed when a test fails, so a red end-to-end test says why.
package harness

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before it is killed.
const stopGrace = 15 * time.Second

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago. The port is released
// before it is returned, so another process may in principle take it first; binding fails loudly
// then, it does not make a test pass wrongly.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is one child process whose output is kept in memory for the test's log.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid once done is closed
}

func startProcess(t testing.TB, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = out
	cmd.Stderr = out
	// Its own process group, so a Ctrl-C in the terminal is handled by the harness, which stops
	// the child in order, and not by the child directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", name, bin, err)
	}
	p := &process{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has ended, with its exit error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM, waits up to stopGrace, then kills. It returns an error when the process
// had to be killed or exited unsuccessfully after SIGTERM.
func (p *process) stop() error {
	if done, err := p.exited(); done {
		return fmt.Errorf("%s had already exited: %v", p.name, err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		var exitErr *exec.ExitError
		if p.err != nil && !(errors.As(p.err, &exitErr) && exitErr.ExitCode() == -1) {
			return fmt.Errorf("%s exited with %v after SIGTERM", p.name, p.err)
		}
		return nil
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed", p.name, stopGrace)
	}
}

// kill sends SIGKILL, as the kernel's OOM killer or a node failure would, and waits for the
// exit: the process gets no chance to flush or checkpoint anything.
func (p *process) kill() error {
	if done, err := p.exited(); done {
		return fmt.Errorf("%s had already exited: %v", p.name, err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
		return fmt.Errorf("%s did not exit within %s of SIGKILL", p.name, stopGrace)
	}
}

// logOnFailure registers a cleanup that prints the process' output when the test failed.
func (p *process) logOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- output of %s (pid %d) ---\n%s", p.name, p.cmd.Process.Pid, p.out.tail(64<<10))
		}
	})
}

// syncBuffer is an io.Writer safe for the two pipes of one process and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// tail returns the last n bytes written.
func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}

// RepoRoot is the folder holding the repository's go.mod, found from the working directory
// (go test runs each package in its own folder).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}

// lookBinary finds a program: the path in the environment variable envVar when set, otherwise
// the first of the candidates that exists (a name is looked up in PATH).
func lookBinary(t testing.TB, envVar string, candidates ...string) string {
	t.Helper()
	if p := os.Getenv(envVar); p != "" {
		return p
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v found (set %s to its path); `make test` installs and builds what the end-to-end tests need", candidates, envVar)
	return ""
}

// waitUntil polls cond every interval until it returns nil, the process exits, or timeout
// passes; the last error of cond explains a time-out.
func waitUntil(p *process, timeout, interval time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if done, exitErr := p.exited(); done {
			return fmt.Errorf("%s exited (%v) while waiting: %w", p.name, exitErr, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// waitHTTPOK waits until url answers 200 OK, the process exits, or timeout passes.
func waitHTTPOK(p *process, url string, timeout, interval time.Duration) error {
	return waitUntil(p, timeout, interval, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return nil
	})
}

func portOf(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}
