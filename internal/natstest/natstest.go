// Package natstest runs a real NATS server with JetStream inside a test:
// the server of nats-server/v2, not a mock, on 127.0.0.1 and a random
// port, with its store in a directory of the test's. Restart stops it and
// starts it again on the same port and store, as an operator's restart
// would.
package natstest

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options are what a test may ask of the server.
type Options struct {
	// User and Password, when set, are required of every client.
	User, Password string
}

// Server is a running server.
type Server struct {
	t    testing.TB
	opts Options
	dir  string
	port int
	srv  *server.Server
}

// Start starts a server that the test stops when it ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, opts: opts, dir: filepath.Join(t.TempDir(), "jetstream"), port: freePort(t)}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.port) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Restart stops the server and starts it again on the same port and store.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Stop stops the server; it can be started again with Restart.
func (s *Server) Stop() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

func (s *Server) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: s.port, JetStream: true, StoreDir: s.dir,
		Username: s.opts.User, Password: s.opts.Password,
		NoSigs: true, NoLog: true, MaxPayload: 8 << 20,
	})
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatalf("natstest: the server on port %d did not start", s.port)
	}
	s.srv = srv
}

// freePort finds a port that is free now on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
