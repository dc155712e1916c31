package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// An upgrade (SIGUSR2) replaces the running process with a new one started
// from the executable's path with the same arguments, so a new binary, or a
// change only a restart applies (limits, TLS ports, plugins), takes effect
// without refusing a connection. The new process inherits the listening
// sockets themselves, not their ports: both processes accept from the same
// queue while they overlap, so a connection waiting to be accepted is
// served by one or the other, never reset. Once the new process serves, it
// says so on a pipe and the old one shuts down as on SIGTERM, without
// shutdown_delay (the ports go on being served): requests in flight
// finish within shutdown_grace, idle keep-alive connections close, and
// plugins' Cleanup runs. If the new process exits first or is not serving
// within upgrade_timeout (which bounds its loading the configuration and
// plugins, running their Configure and opening the ports), the old one
// logs why and goes on serving.

// successor is a process an upgrade started, until it serves or fails.
type successor struct {
	cmd *exec.Cmd
	// done receives one value: nil once the process serves, or why it
	// will not.
	done chan error
}

// startSuccessor starts the executable again with args and this process's
// sockets, and reports on the successor's done channel, at the latest
// after wait.
func startSuccessor(socks *sockets, args []string, wait time.Duration) (*successor, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the executable: %w", err)
	}
	files, names, err := socks.files()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close() // the successor has its own copies, or failed to start
		}
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	// The successor writes to this process's own descriptors, not through
	// pipes this process would copy from: it outlives this process.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.ExtraFiles = append(files, pw)
	cmd.Env = append(withoutUpgradeEnv(os.Environ()),
		socketsEnv+"="+names, readyEnv+"="+strconv.Itoa(3+len(files)))
	err = cmd.Start()
	pw.Close() // the successor holds the write end: EOF means it is gone
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	s := &successor{cmd: cmd, done: make(chan error, 1)}
	go s.watch(pr, wait)
	return s, nil
}

// watch waits until the successor says it serves, exits, or runs out of
// time, wait (then it is stopped).
func (s *successor) watch(pr *os.File, wait time.Duration) {
	defer pr.Close()
	said := make(chan bool, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		said <- line == "ready\n"
	}()
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ok := <-said:
		if ok {
			s.done <- nil
			return
		}
		// The pipe closed without a word: the process is exiting.
		select {
		case err := <-exited:
			s.done <- exitReason(err)
		case <-t.C:
			s.done <- errors.New("the new process closed its readiness pipe without serving")
		}
	case err := <-exited:
		s.done <- exitReason(err)
	case <-t.C:
		s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have just exited
		s.done <- fmt.Errorf("the new process was not serving after %s (upgrade_timeout); it was sent SIGINT", wait)
	}
}

func exitReason(err error) error {
	if err == nil {
		return errors.New("the new process exited (status 0) before serving")
	}
	return fmt.Errorf("the new process ended before serving: %w", err)
}

// upgrade answers a SIGUSR2: it starts a successor, which has wait to
// serve, unless one is already starting (pending), and returns the one
// starting.
func upgrade(pending *successor, p process, wait time.Duration, log *slog.Logger) *successor {
	switch {
	case pending != nil:
		log.Warn("SIGUSR2: an upgrade is already under way; this signal is ignored", "new_pid", pending.pid())
		return pending
	case p.demo:
		log.Warn("SIGUSR2: the demo cannot be upgraded (its demo origins hold their ports); run with -config")
		return nil
	case os.Getpid() == 1:
		// A container ends with its first process: the handover would
		// stop the service, not upgrade it.
		log.Warn("SIGUSR2: this process is PID 1 (a container's first process), whose exit would end the container; not upgrading: roll out a new container instead")
		return nil
	}
	s, err := startSuccessor(p.socks, p.args, wait)
	if err != nil {
		log.Error("SIGUSR2: upgrade not started; this process goes on serving", "err", err)
		return nil
	}
	log.Info("SIGUSR2: upgrading: the new process is starting", "new_pid", s.pid())
	return s
}

// result is the channel the successor's outcome arrives on; nil, which
// never delivers, when there is no successor.
func (s *successor) result() <-chan error {
	if s == nil {
		return nil
	}
	return s.done
}

// pid is the successor's process ID.
func (s *successor) pid() int { return s.cmd.Process.Pid }

// stop asks a successor still starting to stop, for a stop signal that
// arrives meanwhile: the operator means the service to stop.
func (s *successor) stop() {
	s.cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
}

// withoutUpgradeEnv drops the upgrade's variables from env: they name
// this process's descriptors, not the successor's.
func withoutUpgradeEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, socketsEnv+"=") && !strings.HasPrefix(kv, readyEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// notifySystemd sends state to systemd's notification socket when the
// process runs as a Type=notify service (NOTIFY_SOCKET is set); see
// sd_notify(3). An upgrade hands the service over with MAINPID=, without
// which systemd would take the old process's exit for the service's end
// and stop the new one with it.
func notifySystemd(state string, log *slog.Logger) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // an abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err == nil {
		_, err = c.Write([]byte(state))
		c.Close()
	}
	if err != nil {
		log.Warn("systemd notification not sent", "state", strings.ReplaceAll(state, "\n", " "), "err", err)
	}
}

// pidFile is the -pid-file flag's file: written with this process's ID
// once it serves, removed at exit unless a successor has written its own.
type pidFile string

func (f pidFile) write() error {
	if f == "" {
		return nil
	}
	// Written aside and renamed, so a reader never sees it half written.
	tmp := string(f) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, string(f))
}

func (f pidFile) remove() {
	if f == "" {
		return
	}
	if b, err := os.ReadFile(string(f)); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(string(f))
	}
}
