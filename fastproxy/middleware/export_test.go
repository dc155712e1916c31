package middleware

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// Exported names for the external tests (package middleware_test), which
// import fastproxy and so cannot live in package middleware.

// BigText is a compressible body well above the compression threshold.
var BigText = bigText

// WriteSelfSigned writes a self-signed certificate for 127.0.0.1 and its
// key into dir as tls.crt and tls.key.
func WriteSelfSigned(t testing.TB, dir string) {
	cert := selfSigned(t)
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, block := range map[string]*pem.Block{
		"tls.crt": {Type: "CERTIFICATE", Bytes: cert.Certificate[0]},
		"tls.key": {Type: "PRIVATE KEY", Bytes: key},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
