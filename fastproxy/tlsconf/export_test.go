package tlsconf

import (
	"crypto/x509"
	"testing"
	"time"
)

// Exported names for the external tests (package tlsconf_test), which
// import fastproxy and configs and so cannot live in package tlsconf.

// TestCA is a certificate authority for tests.
type TestCA struct{ ca *testCA }

// NewTestCA makes a fresh CA.
func NewTestCA(t testing.TB) *TestCA { return &TestCA{newCA(t)} }

// Pool holds the CA, for verifying clients.
func (c *TestCA) Pool() *x509.CertPool { return c.ca.pool }

// PEM is the CA certificate.
func (c *TestCA) PEM() []byte { return c.ca.pem }

// WriteLeaf issues a leaf with common name cn for names and writes it into
// dir as name.crt and name.key.
func (c *TestCA) WriteLeaf(t testing.TB, dir, name, cn string, names ...string) (certFile, keyFile string) {
	cert, key := c.ca.leaf(t, cn, time.Now().Add(90*24*time.Hour), names...)
	return writePair(t, dir, name, cert, key)
}
