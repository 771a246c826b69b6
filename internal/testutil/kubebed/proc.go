package kubebed

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component has to exit after SIGTERM before its
// process group is killed.
const stopGrace = 5 * time.Second

// proc is one daemon of the testbed, running in its own session (and so its
// own process group) with stdout and stderr going to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// startProc starts bin with args in a new session. env is added to the
// test process's environment.
func startProc(dir, name, bin string, args, env []string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true,
		// Should the test binary die without running its cleanups (a
		// -timeout panic, a kill), take the component with it rather
		// than leave a control plane running. (The signal follows the
		// death of the thread that started the child; the Go runtime
		// does not end threads that goroutines have not locked.)
		Pdeathsig: syscall.SIGKILL,
	}
	fmt.Fprintf(f, "+ %s %s\n", name, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop ends the process group the component leads: SIGTERM, then SIGKILL
// once stopGrace has passed. It reports whether the process had to be
// killed.
func (p *proc) stop() (killed bool) {
	if done, _ := p.exited(); done {
		return false
	}
	pgid := p.cmd.Process.Pid // Setsid: the process leads its own group
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return false
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	return true
}

// tail returns the last n lines of the component's log.
func (p *proc) tail(n int) string {
	return tailFile(p.log, n)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		// Flux and kwok log long JSON lines; keep the tail readable.
		if len(l) > 600 {
			lines[i] = append(l[:600:600], " …"...)
		}
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts finds n distinct TCP ports free on host. The listeners are held
// until all ports are chosen so that the same port is not returned twice;
// another process may still take one before the component binds it, which
// the component's log will then show.
func freePorts(host string, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", host, err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// exitError describes how a process ended, for messages.
func exitError(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	if err == nil {
		return "exited with status 0"
	}
	return err.Error()
}
