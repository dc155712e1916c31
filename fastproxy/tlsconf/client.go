package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/spillway-lb/spillway/configs"
)

// Client returns the TLS configuration for an https backend.
//
// The server name sent and verified is b.SNI, or serverName (normally the
// URL's host) when SNI is empty. b.CAFile, when set, replaces the system
// roots with the PEM certificates it holds; a file without any is an error.
// b.SkipTLSVerify turns verification off. Client does not log it: the
// caller warns through its own logger (fastproxy.New does, through
// Options.Logger), so the warning follows the configured log format and
// level rather than slog.Default(). Sessions are resumed through a per-backend cache, so
// reconnects skip the full handshake. Call it once per backend at start-up.
func Client(b configs.Backend, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		ClientSessionCache: tls.NewLRUClientSessionCache(0),
	}
	if b.SNI != "" {
		cfg.ServerName = b.SNI
	}
	if b.CAFile != "" {
		pem, err := os.ReadFile(b.CAFile)
		if err != nil {
			return nil, fmt.Errorf("backend %s: ca_file: %w", b.URL, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("backend %s: ca_file %s holds no PEM certificate", b.URL, b.CAFile)
		}
		cfg.RootCAs = pool
	}
	if b.SkipTLSVerify {
		cfg.InsecureSkipVerify = true
	}
	return cfg, nil
}
